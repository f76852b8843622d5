//! Stage wiring: a reader thread streams targets into a bounded channel; a dispatcher keeps a bounded
//! number of domains in flight; each domain's row goes to the domains writer and each new MX address
//! to the hosts writer, both over bounded channels. Memory stays flat whatever the input size.
//!
//! Shutdown: when `cancel` fires the reader stops taking lines, in-flight domains get the time a
//! query may take (timeout x attempts) to finish, the rest are abandoned, and the writers flush
//! complete files and the manifest.

pub mod domain;
pub mod policies;
pub mod progress;
pub mod spf_dns;
pub mod stats;
pub mod sts_fetch;

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use dashmap::DashSet;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dns::{CacheOptions, Engine, EngineOptions, Resolver};
use crate::output::{DomainRow, HostRow, TableWriter, WriterOptions};
use crate::targets::{DomainReader, Item, ReaderOptions, Target};
pub use policies::PolicyOptions;
pub use progress::ProgressMode;
pub use stats::{RunManifest, ScanStats};

/// Everything a domain scan needs. `Default` gives the documented defaults except what has none
/// (input, output directory, resolvers).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Input path, or `-` for stdin; `.gz` is decompressed.
    pub input: String,
    /// Output directory (created).
    pub out: PathBuf,
    /// Replace the results of an earlier scan in `out` instead of refusing. Default false.
    pub overwrite: bool,
    pub engine: EngineOptions,
    pub cache: CacheOptions,
    pub reader: ReaderOptions,
    pub writer: WriterOptions,
    /// Domains in flight at once. Default 1000; the engine's window bounds the queries.
    pub domain_concurrency: usize,
    /// Distinct host addresses remembered so each gets one hosts row. Default 5,000,000.
    pub hosts_dedup_capacity: usize,
    pub progress: ProgressMode,
    /// DMARC discovery and Public Suffix List, DKIM selectors, MTA-STS policy fetch. (The DO bit
    /// for `dnssec_ad` is `engine.dnssec_ok`.)
    pub policies: PolicyOptions,
    /// The command line as typed, recorded in run.json (the library never reads argv itself).
    pub command_line: Vec<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            input: String::new(),
            out: PathBuf::new(),
            overwrite: false,
            engine: EngineOptions::default(),
            cache: CacheOptions::default(),
            reader: ReaderOptions::default(),
            writer: WriterOptions::default(),
            domain_concurrency: 1000,
            hosts_dedup_capacity: 5_000_000,
            progress: ProgressMode::Quiet,
            policies: PolicyOptions::default(),
            command_line: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("cannot read input {path}: {source}")]
    Input { path: String, source: io::Error },
    #[error("output directory {path}: {source}")]
    Output { path: PathBuf, source: io::Error },
    #[error(
        "{0} already holds a scan (run.json exists): choose another --out, or pass --overwrite"
    )]
    OutputNotEmpty(PathBuf),
    #[error(transparent)]
    Engine(#[from] crate::dns::engine::EngineError),
    #[error("policy stage: {0}")]
    Policy(String),
    #[error("writing {table}: {source}")]
    Write {
        table: &'static str,
        source: io::Error,
    },
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn prepare_out(out: &Path, overwrite: bool) -> Result<(), ScanError> {
    let err = |source| ScanError::Output {
        path: out.to_path_buf(),
        source,
    };
    fs::create_dir_all(out).map_err(err)?;
    if out.join("run.json").exists() {
        if !overwrite {
            return Err(ScanError::OutputNotEmpty(out.to_path_buf()));
        }
        for d in ["domains", "hosts"] {
            if out.join(d).exists() {
                fs::remove_dir_all(out.join(d)).map_err(err)?;
            }
        }
        for f in ["domains.csv", "hosts.csv", "rejects.csv", "run.json"] {
            if out.join(f).exists() {
                fs::remove_file(out.join(f)).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Runs a domain scan to the end of the input or until `cancel` fires.
pub async fn scan(opts: ScanOptions, cancel: CancellationToken) -> Result<RunManifest, ScanError> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let policy =
        Arc::new(policies::PolicyStage::new(opts.policies.clone()).map_err(ScanError::Policy)?);
    prepare_out(&opts.out, opts.overwrite)?;
    let input = crate::targets::open(&opts.input).map_err(|source| ScanError::Input {
        path: opts.input.clone(),
        source,
    })?;
    let engine = Engine::new(opts.engine.clone()).await?;
    let resolver = Resolver::new(engine, opts.cache.clone());
    let stats = Arc::new(ScanStats::default());

    if let Some(total) = counting_thread(&opts.input) {
        stats.set_total_source(total);
    }

    let (domains, domains_done) =
        TableWriter::<DomainRow>::start(&opts.out, "domains", &opts.writer).map_err(|source| {
            ScanError::Output {
                path: opts.out.clone(),
                source,
            }
        })?;
    let (hosts, hosts_done) = TableWriter::<HostRow>::start(&opts.out, "hosts", &opts.writer)
        .map_err(|source| ScanError::Output {
            path: opts.out.clone(),
            source,
        })?;

    let rejects =
        File::create(opts.out.join("rejects.csv")).map_err(|source| ScanError::Output {
            path: opts.out.clone(),
            source,
        })?;
    let (tx, mut rx) = mpsc::channel::<Target>(1024);
    let reader = {
        let stats = stats.clone();
        let cancel = cancel.clone();
        let ropts = opts.reader.clone();
        std::thread::spawn(move || read_targets(input, ropts, rejects, tx, &stats, &cancel))
    };

    let progress = progress::start(opts.progress, stats.clone(), resolver.clone());

    let window = Arc::new(Semaphore::new(opts.domain_concurrency.max(1)));
    let seen_hosts: Arc<DashSet<IpAddr, ahash::RandomState>> = Arc::new(DashSet::default());
    let mut tasks = JoinSet::new();
    let mut interrupted = false;
    loop {
        let target = tokio::select! {
            biased;
            _ = cancel.cancelled() => { interrupted = true; break; }
            t = rx.recv() => match t { Some(t) => t, None => break },
        };
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => { interrupted = true; break; }
            p = window.clone().acquire_owned() => p.expect("never closed"),
        };
        while tasks.try_join_next().is_some() {}
        let resolver = resolver.clone();
        let domains = domains.clone();
        let hosts = hosts.clone();
        let stats = stats.clone();
        let seen = seen_hosts.clone();
        let cap = opts.hosts_dedup_capacity;
        let policy = policy.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let (row, ips) =
                domain::scan_domain(&resolver, &target.domain, &policy, &stats.policies, now_ms)
                    .await;
            stats.record_domain(&row);
            domains.send(row).await;
            for ip in ips {
                let new = if seen.len() < cap {
                    seen.insert(ip)
                } else {
                    !seen.contains(&ip)
                };
                if new {
                    stats.hosts.fetch_add(1, Relaxed);
                    hosts
                        .send(HostRow {
                            ip: ip.to_string(),
                            scanned_at: now_ms(),
                        })
                        .await;
                }
            }
        });
    }
    drop(rx);
    if interrupted {
        // Every query ends by itself within timeout x attempts (plus a TCP fallback each).
        let e = &opts.engine;
        let mut grace = e.timeout * 2 * (e.retries + 1) + Duration::from_secs(1);
        if let Some(f) = &opts.policies.mta_sts_fetch {
            grace += f.timeout;
        }
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            stats.abandoned.store(tasks.len() as u64, Relaxed);
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    } else {
        while tasks.join_next().await.is_some() {}
    }
    let reader_stats = reader
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
    drop(domains);
    drop(hosts);
    let domains_written = domains_done
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|source| ScanError::Write {
            table: "domains",
            source,
        })?;
    let hosts_written = hosts_done
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|source| ScanError::Write {
            table: "hosts",
            source,
        })?;
    progress.finish().await;

    let manifest = RunManifest::build(
        &opts,
        started,
        t0.elapsed(),
        interrupted,
        &stats,
        reader_stats.err().map(|e| e.to_string()),
        &resolver,
        domains_written,
        hosts_written,
    );
    let path = opts.out.join("run.json");
    let write = || -> io::Result<()> {
        let tmp = opts.out.join(".run.json.tmp");
        let mut f = BufWriter::new(File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut f, &manifest)?;
        io::Write::flush(&mut f)?;
        drop(f);
        fs::rename(tmp, &path)
    };
    write().map_err(|source| ScanError::Write {
        table: "run.json",
        source,
    })?;
    Ok(manifest)
}

/// Counts the input's data lines in the background so progress can show a total and ETA without
/// delaying the scan.
fn counting_thread(input: &str) -> Option<Arc<std::sync::OnceLock<u64>>> {
    if input == "-" {
        return None;
    }
    let cell = Arc::new(std::sync::OnceLock::new());
    let c = cell.clone();
    let path = input.to_string();
    std::thread::spawn(move || {
        if let Some(n) = crate::targets::count_entries(&path) {
            let _ = c.set(n);
        }
    });
    Some(cell)
}

fn read_targets(
    input: Box<dyn BufRead + Send>,
    opts: ReaderOptions,
    rejects: File,
    tx: mpsc::Sender<Target>,
    stats: &ScanStats,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let mut rejects = csv::Writer::from_writer(BufWriter::new(rejects));
    rejects.write_record(["line", "text", "reason"])?;
    let mut reader = DomainReader::new(input, opts);
    let mut result = Ok(());
    for item in reader.by_ref() {
        if cancel.is_cancelled() {
            break;
        }
        match item {
            Ok(Item::Target(t)) => {
                stats.read.fetch_add(1, Relaxed);
                if tx.blocking_send(t).is_err() {
                    break;
                }
            }
            Ok(Item::Reject(r)) => {
                stats.rejects.fetch_add(1, Relaxed);
                rejects.write_record([r.line.to_string(), r.text, r.reason])?;
            }
            Ok(Item::Duplicate) => {
                stats.duplicates.fetch_add(1, Relaxed);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    stats.dedup_overflow.store(reader.dedup_overflow, Relaxed);
    stats.input_done.store(true, Relaxed);
    rejects.flush()?;
    result
}
