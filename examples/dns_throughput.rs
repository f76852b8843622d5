//! Throughput of mxray's DNS engine alone (no cache, no checks): resolves every name of a dnsperf
//! query file ("name TYPE" per line) against one resolver and prints queries/s and statuses.
//! Used by benches/dns_throughput.sh beside dnsperf, against the same server, in the same run.
//!
//!     cargo run --release --example dns_throughput -- 127.0.0.1:5400 queries.txt [window] [sockets] [fixed]
//!
//! `MXRAY_THREADS=N` runs the runtime on N worker threads (default: one per core, as the scan):
//! the benchmark compares the engine on one thread with dnsperf on one (`-T 1`).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mxray::dns::{Engine, EngineOptions, RecordType, Status};

/// The binary's allocator and page settings (src/main.rs), so that the engine is measured as the
/// scan runs it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As the binary does (src/main.rs, `no_huge_pages`).
    // SAFETY: sets a flag of this process only.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: dns_throughput SERVER:PORT QUERYFILE [WINDOW] [SOCKETS]");
        std::process::exit(2);
    }
    let server = args[1].parse().expect("SERVER:PORT");
    let window: usize = args.get(3).map_or(2000, |s| s.parse().expect("window"));
    let sockets: usize = args.get(4).map_or(2, |s| s.parse().expect("sockets"));
    // "fixed": keep the window at WINDOW instead of letting it adapt.
    let adaptive = args.get(5).is_none_or(|s| s != "fixed");
    let threads: usize = std::env::var("MXRAY_THREADS").map_or(0, |s| s.parse().expect("threads"));
    let queries: Vec<(String, RecordType)> = std::fs::read_to_string(&args[2])
        .expect("query file")
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?.to_string();
            let t = RecordType::from_str(it.next().unwrap_or("A")).ok()?;
            Some((name, t))
        })
        .collect();
    let queries = Arc::new(queries);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        rt.worker_threads(threads);
    }
    let rt = rt.enable_all().build().unwrap();
    rt.block_on(async move {
        let engine = Engine::new(EngineOptions {
            servers: vec![server],
            timeout: Duration::from_secs(2),
            retries: 2,
            concurrency: window,
            adaptive_window: adaptive,
            sockets,
            ..EngineOptions::default()
        })
        .await
        .unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let workers: Vec<_> = (0..window)
            .map(|_| {
                let (e, q, n) = (engine.clone(), queries.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = n.fetch_add(1, Relaxed);
                        let Some((name, t)) = q.get(i) else { break };
                        e.query(name, *t).await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let s = engine.stats();
        let statuses: Vec<String> = Status::ALL
            .iter()
            .map(|st| format!("{st}={}", s.status_count(*st)))
            .collect();
        println!(
            "mxray: {} queries in {secs:.2} s = {:.0} queries/s (window {window}, {sockets} sockets; {}; retries {}; datagrams per system call: {:.1} sent, {:.1} received)",
            queries.len(),
            queries.len() as f64 / secs,
            statuses.join(" "),
            s.retries.load(Relaxed),
            s.udp_sent.load(Relaxed) as f64 / s.send_calls.load(Relaxed).max(1) as f64,
            s.udp_received.load(Relaxed) as f64 / s.recv_calls.load(Relaxed).max(1) as f64,
        );
    });
}
