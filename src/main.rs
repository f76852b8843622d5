//! The `mxray` binary: parse the command line, run, map the result to an exit code.
//! Exit codes: 0 done, 2 usage or setup error, 130 interrupted (Ctrl-C; files are still valid).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            cli::Command::Scan(scan) => {
                let opts = scan.into_options(args)?;
                let out = opts.out.clone();
                let cancel = CancellationToken::new();
                let c = cancel.clone();
                tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        eprintln!(
                            "\nmxray: stopping: finishing in-flight work and writing files (Ctrl-C again to quit at once)"
                        );
                        c.cancel();
                        if tokio::signal::ctrl_c().await.is_ok() {
                            std::process::exit(130);
                        }
                    }
                });
                let m = mxray::pipeline::scan(opts, cancel).await?;
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
                Ok(if m.interrupted {
                    ExitCode::from(130)
                } else {
                    ExitCode::SUCCESS
                })
            }
        }
    })
}
