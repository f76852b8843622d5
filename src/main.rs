//! The `mxray` binary: parse the command line, run, map the result to an exit code.
//! Exit codes: 0 done, 2 usage or setup error; stopped by a signal after the files were flushed
//! (they are valid and run.json says `interrupted`): 130 SIGINT (Ctrl-C), 143 SIGTERM (what
//! Kubernetes, Slurm, systemd and `timeout` send), 129 SIGHUP. A second signal quits at once with
//! the same code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use mxray::pipeline::Stop;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = cli::Cli::parse();
    match run(cli, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mxray: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli, args: Vec<String>) -> anyhow::Result<ExitCode> {
    let scan = match cli.command {
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
        cli::Command::Scan(scan) => *scan,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let opts = scan.into_options(args)?;
        let out = opts.out.clone();
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
        let m = mxray::pipeline::scan(opts, stop.clone()).await?;
        let scanned = if m.targets == "ips" {
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
        Ok(match (m.interrupted, stop.reason()) {
            (false, _) => ExitCode::SUCCESS,
            (true, reason) => ExitCode::from(exit_code(reason.unwrap_or("SIGINT"))),
        })
    })
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

/// 128 + the signal's number, as shells report a process a signal ended.
fn exit_code(signal: &str) -> u8 {
    match signal {
        "SIGHUP" => 129,
        "SIGTERM" => 143,
        _ => 130,
    }
}
