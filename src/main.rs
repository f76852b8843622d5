//! The `mxray` binary: parse the command line, run, map the result to an exit code.
//! Exit codes: 0 done, 2 usage or setup error, or an output file that could not be written
//! mid-scan (run.json then says `failed`); stopped by a signal after the files were flushed
//! (they are valid and run.json says `interrupted`): 130 SIGINT (Ctrl-C), 143 SIGTERM (what
//! Kubernetes, Slurm, systemd and `timeout` send), 129 SIGHUP; 75 when no resolver answered for
//! `--resolver-outage-limit` (files flushed likewise; `--resume` goes on). A second signal quits
//! at once with the same code. `mxray check` exits 0 when no item failed, 1 when one did, 2 for a usage or
//! setup error.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use mxray::pipeline::Stop;

/// mimalloc, not glibc's malloc. glibc gives each allocating thread an arena and raises its mmap
/// threshold as large blocks are freed, so freed Arrow buffers stayed in the heap and peak RSS
/// drifted with the input; two arenas (`mallopt`) fixed that, but then tokio's workers and the
/// Parquet encoders waited on the arenas' locks: `perf` put a fifth of a domain scan's samples in
/// malloc, free and their futex waits. mimalloc's heaps are per thread and give freed pages back
/// (benches/HISTORY.md: memory, 2026-12-04 evening). A setting of the process, so it lives here.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    // For run.json's command line: args_os, since args() panics on an argument that is not
    // UTF-8 (a file name); clap parses the OS strings itself.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = cli::Cli::parse();
    match run(cli, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mxray: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// No transparent huge pages for this process. mimalloc asks for them on its arenas, and a heap
/// that frees and reuses memory at this rate then takes page faults that zero 2 MiB at a time:
/// `perf` put 11% of a domain scan's samples in the kernel's `clear_page_erms` under
/// `do_huge_pmd_anonymous_page` (benches/HISTORY.md, 2026-12-04 evening). A kernel setting of the
/// process (prctl, Linux 3.15+), not one of mimalloc's options by number, which move between its
/// versions.
#[cfg(target_os = "linux")]
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of the calling process; a failure (an old
    // kernel) leaves the default, which is only slower.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

fn run(cli: cli::Cli, args: Vec<String>) -> anyhow::Result<ExitCode> {
    let command = match cli.command {
        // CPU-bound on rayon's pool: no tokio runtime around it.
        cli::Command::Report(r) => {
            let s = mxray::report::run(&r.into_options())?;
            for skipped in &s.reading.skipped {
                eprintln!(
                    "mxray: warning: skipped {} ({})",
                    skipped.path.display(),
                    skipped.reason
                );
            }
            eprintln!(
                "mxray: report of {} domains, {} hosts: {}, {}, {}",
                s.reading.domain_rows,
                s.aggregates.hosts.rows,
                s.html.display(),
                s.markdown.display(),
                s.json.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        other => other,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let cli::Command::Scan(scan) = &command {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        runtime.worker_threads(scan.worker_threads(cores));
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async {
        match command {
            cli::Command::Scan(scan) => {
                let opts = scan.into_options(args)?;
                let out = opts.out.clone();
                let address_scan = matches!(opts.targets, mxray::pipeline::Targets::Ips(_));
                let stop = stop_on_signals()?;
                let m = mxray::pipeline::scan(opts, stop.clone()).await?;
                let scanned = if address_scan {
                    format!("{} addresses", m.counts.hosts)
                } else {
                    format!("{} domains, {} hosts", m.counts.domains_scanned, m.counts.hosts)
                };
                eprintln!(
                    "mxray: {scanned} in {:.1}s ({:.0}/s), {} rejects; cache hit rate {:.1}%; results in {}",
                    m.duration_s,
                    m.rates.targets_per_s,
                    m.counts.rejects,
                    m.cache.hit_rate * 100.0,
                    out.display()
                );
                if let Some(e) = &m.input_error {
                    eprintln!("mxray: warning: input read stopped early: {e}");
                }
                Ok(stopped_code(m.interrupted, &stop))
            }
            cli::Command::Lab(lab) => {
                let t0 = std::time::Instant::now();
                let lab = mxray::lab::Lab::start(&lab.options()).await?;
                let f = &lab.files;
                println!(
                    "mxray lab: {} domains (seed {}), {} records, up in {:.1}s\n  resolver     {}\n  SMTP         127.77.0-{}.1 port {}\n  domain list  {}\n  ground truth {} and {}\n\nScan it with:\n  mxray {}\n\nCtrl-C stops the lab.",
                    lab.world.domains,
                    lab.world.seed,
                    lab.records,
                    t0.elapsed().as_secs_f64(),
                    lab.dns,
                    mxray::lab::world::POOL.len() - 1,
                    lab.smtp_port,
                    f.domains.display(),
                    f.truth.display(),
                    f.hosts_truth.display(),
                    lab.scan_args(std::path::Path::new("lab-results")).join(" ")
                );
                let signal = Signals::new()?.next().await;
                eprintln!("mxray lab: {signal}: stopping");
                lab.stop().await;
                Ok(ExitCode::SUCCESS)
            }
            cli::Command::Demo(demo) => {
                let stop = stop_on_signals()?;
                let d = mxray::lab::demo::run(demo.options(), cli::scan_options_from, stop.clone())
                    .await?;
                let m = &d.manifest;
                let report_opts = mxray::report::ReportOptions::new(vec![d.out.clone()]);
                // The report's aggregation runs on rayon's pool, off the runtime's workers.
                let r = tokio::task::spawn_blocking(move || mxray::report::run(&report_opts))
                    .await??;
                println!(
                    "mxray demo: lab of {} records up in {:.1}s; scanned {} domains and {} hosts in {:.1}s\n{}\nresults in {} (Parquet; run.json), the lab's domain list and ground truth in {}\nthe scan it ran: mxray {}",
                    d.lab_records,
                    d.lab_start.as_secs_f64(),
                    m.counts.domains_scanned,
                    m.counts.hosts,
                    m.duration_s,
                    d.headlines,
                    d.out.display(),
                    d.lab_dir.display(),
                    d.scan_args.join(" ")
                );
                println!("report: {} (also {})", r.html.display(), r.markdown.display());
                Ok(stopped_code(m.interrupted, &stop))
            }
            cli::Command::Check(check) => run_check(*check, args).await,
            cli::Command::Report(_) => unreachable!("handled before the runtime starts"),
        }
    })
}

/// `mxray check`: each target's checklist on stdout, in the order given (up to four checked at
/// once); 1 when an item of any target failed.
async fn run_check(check: cli::CheckArgs, args: Vec<String>) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use mxray::check::{Mark, Report, render};
    use std::io::{IsTerminal, Write};
    let style = check.text_style(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let targets = check.targets()?;
    let json = check.json;
    let opts = check.scan_args().into_options(args)?;
    let checker = mxray::pipeline::check::Checker::new(&opts).await?;
    let mut reports = futures::stream::iter(targets)
        .map(|t| checker.check(t))
        .buffered(4);
    let mut failed = false;
    let mut first = true;
    while let Some(observed) = reports.next().await {
        let report = Report::new(observed);
        failed |= report.worst() == Mark::Fail;
        let text = if json {
            format!("{}\n", render::json(&report))
        } else {
            let gap = if first { "" } else { "\n" };
            format!("{gap}{}", render::text(&report, style))
        };
        first = false;
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // A reader that went away (`| head`) has what it wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            r => r?,
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A stop handle that the first signal triggers; a second signal quits at once.
fn stop_on_signals() -> std::io::Result<Stop> {
    let stop = Stop::new();
    let mut signals = Signals::new()?;
    let s = stop.clone();
    tokio::spawn(async move {
        let first = signals.next().await;
        eprintln!(
            "\nmxray: {first}: stopping: finishing in-flight work and writing files (a second signal quits at once)"
        );
        s.stop(first);
        let second = signals.next().await;
        std::process::exit(exit_code(second).into());
    });
    Ok(stop)
}

fn stopped_code(interrupted: bool, stop: &Stop) -> ExitCode {
    match (interrupted, stop.reason()) {
        (false, _) => ExitCode::SUCCESS,
        (true, reason) => ExitCode::from(exit_code(reason.unwrap_or("SIGINT"))),
    }
}

/// The signals that stop a scan: SIGINT (Ctrl-C), SIGTERM, SIGHUP.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            r = tokio::signal::ctrl_c() => match r {
                Ok(()) => "SIGINT",
                // No SIGINT handler could be installed: wait for the others only.
                Err(_) => self.other().await,
            },
            s = self.other() => s,
        }
    }

    async fn other(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// 128 + the signal's number, as shells report a process a signal ended; 75 (EX_TEMPFAIL: try
/// again later) when no resolver answered for `--resolver-outage-limit`.
fn exit_code(reason: &str) -> u8 {
    match reason {
        "SIGHUP" => 129,
        "SIGTERM" => 143,
        mxray::pipeline::RESOLVERS_UNREACHABLE => 75,
        _ => 130,
    }
}
