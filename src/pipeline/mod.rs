//! Stage wiring: a reader thread streams targets into a bounded channel; a dispatcher keeps a bounded
//! number of domains in flight; each domain's row goes to the domains writer and each new MX address
//! to the hosts writer, both over bounded channels. Memory stays flat whatever the input size.
//!
//! Shutdown: when `cancel` fires the reader stops taking lines, in-flight domains get the time a
//! query may take (timeout x attempts) to finish, the rest are abandoned, and the writers flush
//! complete files and the manifest.

pub mod domain;
pub mod host;
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
use crate::targets::ips::{DEFAULT_MAX_V6, IpTargets};
use crate::targets::shard::Shard;
use crate::targets::{DomainReader, Item, ReaderOptions, Reject, Target};
use host::{HostChecker, HostOptions};
pub use policies::PolicyOptions;
pub use progress::ProgressMode;
pub use stats::{RunManifest, ScanStats};

/// Everything a domain scan needs. `Default` gives the documented defaults except what has none
/// (input, output directory, resolvers).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Domain list: a path, or `-` for stdin; `.gz` is decompressed. Ignored when `ips` is set.
    pub input: String,
    /// Address targets instead of domains: a file of addresses, CIDR blocks and `a-b` ranges, or
    /// such a list inline (comma-separated). Default none.
    pub ips: Option<String>,
    /// Largest IPv6 spec accepted, in addresses. Default 65,536 (a /112): a /64 would never end.
    pub max_ipv6: u128,
    /// Seed of the pseudo-random order of address targets (the same seed, the same order; every
    /// shard must use the same). Default 0.
    pub seed: u64,
    /// This machine's part of the input. Default 0/1 (all).
    pub shard: Shard,
    /// Host checks: DNSBL zones, ASN table, exclusions.
    pub hosts: HostOptions,
    /// Domain checks beyond the fixed queries.
    pub domain: domain::DomainOptions,
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
            ips: None,
            max_ipv6: DEFAULT_MAX_V6,
            seed: 0,
            shard: Shard::ALL,
            hosts: HostOptions::default(),
            domain: domain::DomainOptions::default(),
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
    #[error("--ips: {0}")]
    Ips(String),
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

/// Runs a scan (domains, or address targets when `opts.ips` is set) to the end of the input or
/// until `cancel` fires.
pub async fn scan(opts: ScanOptions, cancel: CancellationToken) -> Result<RunManifest, ScanError> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let policy =
        Arc::new(policies::PolicyStage::new(opts.policies.clone()).map_err(ScanError::Policy)?);
    prepare_out(&opts.out, opts.overwrite)?;
    let stats = Arc::new(ScanStats::default());
    let rejects =
        File::create(opts.out.join("rejects.csv")).map_err(|source| ScanError::Output {
            path: opts.out.clone(),
            source,
        })?;
    let mut rejects = csv::Writer::from_writer(BufWriter::new(rejects));
    let write_err = |source: csv::Error| ScanError::Write {
        table: "rejects.csv",
        source: source.into(),
    };
    rejects
        .write_record(["line", "text", "reason"])
        .map_err(write_err)?;
    // Address targets are parsed up front (a spec list is small even when its ranges are huge),
    // so that bad lines and the total are known before the first probe.
    let source = match &opts.ips {
        Some(spec) => {
            let targets = ip_targets(spec, &opts, &stats, &mut rejects).map_err(ScanError::Ips)?;
            rejects.flush().map_err(|e| write_err(e.into()))?;
            Source::Ips(targets)
        }
        None => Source::Domains(crate::targets::open(&opts.input).map_err(|source| {
            ScanError::Input {
                path: opts.input.clone(),
                source,
            }
        })?),
    };
    let engine = Engine::new(opts.engine.clone()).await?;
    let resolver = Resolver::new(engine, opts.cache.clone());
    let checker = Arc::new(HostChecker::new(opts.hosts.clone()));

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

    let (tx, mut rx) = mpsc::channel::<Job>(1024);
    let reader = {
        let stats = stats.clone();
        let cancel = cancel.clone();
        let ropts = opts.reader.clone();
        let (shard, seed) = (opts.shard, opts.seed);
        match source {
            Source::Domains(input) => {
                if let Some(total) = counting_thread(&opts.input) {
                    stats.set_total_source(total);
                }
                std::thread::spawn(move || {
                    read_targets(input, ropts, shard, rejects, tx, &stats, &cancel)
                })
            }
            Source::Ips(targets) => std::thread::spawn(move || {
                for ip in shard.ips(&targets, seed) {
                    if cancel.is_cancelled() || tx.blocking_send(Job::Host(ip)).is_err() {
                        break;
                    }
                    stats.read.fetch_add(1, Relaxed);
                }
                stats.input_done.store(true, Relaxed);
                rejects.flush()
            }),
        }
    };

    let progress = progress::start(opts.progress, stats.clone(), resolver.clone());

    let window = Arc::new(Semaphore::new(opts.domain_concurrency.max(1)));
    let domain_opts = Arc::new(opts.domain.clone());
    let seen_hosts: Arc<DashSet<IpAddr, ahash::RandomState>> = Arc::new(DashSet::default());
    let mut tasks = JoinSet::new();
    let mut interrupted = false;
    loop {
        let job = tokio::select! {
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
        let hosts = hosts.clone();
        let stats = stats.clone();
        let checker = checker.clone();
        match job {
            Job::Host(ip) => {
                tasks.spawn(async move {
                    let _permit = permit;
                    let row = checker.check(&resolver, ip, now_ms).await;
                    stats.record_host(&row);
                    stats.done.fetch_add(1, Relaxed);
                    hosts.send(row).await;
                });
            }
            Job::Domain(target) => {
                let domains = domains.clone();
                let dopts = domain_opts.clone();
                let policy = policy.clone();
                let seen = seen_hosts.clone();
                let cap = opts.hosts_dedup_capacity;
                tasks.spawn(async move {
                    let _permit = permit;
                    let (mut row, ips) = domain::scan_domain(
                        &resolver,
                        &target.domain,
                        &dopts,
                        &policy,
                        &stats.policies,
                        now_ms,
                    )
                    .await;
                    if checker.has_domain_zones() {
                        let l = checker.rhsbl(&resolver, &target.domain).await;
                        row.dnsbl_domain_listed = Some(l.listed);
                        row.dnsbl_domain_reasons = Some(l.reasons);
                        row.dnsbl_domain_errors = Some(l.errors);
                    }
                    stats.record_domain(&row);
                    domains.send(row).await;
                    for ip in ips {
                        let new = if seen.len() < cap {
                            seen.insert(ip)
                        } else {
                            !seen.contains(&ip)
                        };
                        if new {
                            let row = checker.check(&resolver, ip, now_ms).await;
                            stats.record_host(&row);
                            hosts.send(row).await;
                        }
                    }
                });
            }
        }
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

type RejectsCsv = csv::Writer<BufWriter<File>>;

/// What feeds the scan.
enum Source {
    Domains(Box<dyn BufRead + Send>),
    Ips(IpTargets),
}

enum Job {
    Domain(Target),
    Host(IpAddr),
}

/// Parses an address spec (a file when `spec` names one, else an inline comma-separated list),
/// writes its bad lines to rejects.csv, and removes excluded addresses.
fn ip_targets(
    spec: &str,
    opts: &ScanOptions,
    stats: &ScanStats,
    rejects: &mut RejectsCsv,
) -> Result<IpTargets, String> {
    use crate::targets::ips;
    let list = if Path::new(spec).is_file() {
        ips::parse_spec_file(Path::new(spec), opts.max_ipv6).map_err(|e| e.to_string())?
    } else {
        ips::parse_spec_inline(spec, opts.max_ipv6)
    };
    for r in &list.rejects {
        stats.rejects.fetch_add(1, Relaxed);
        write_reject(rejects, r).map_err(|e| e.to_string())?;
    }
    let mut targets = list.targets();
    if targets.is_empty() && list.rejects.is_empty() {
        return Err(format!("{spec:?} holds no address"));
    }
    let excluded = opts.hosts.exclude.apply(&mut targets);
    stats
        .excluded
        .store(excluded.min(u64::MAX as u128) as u64, Relaxed);
    let mine = opts.shard.positions_of(targets.len());
    stats.set_total_source(Arc::new(std::sync::OnceLock::from(
        mine.min(u64::MAX as u128) as u64,
    )));
    Ok(targets)
}

fn write_reject(rejects: &mut RejectsCsv, r: &Reject) -> csv::Result<()> {
    rejects.write_record([r.line.to_string(), r.text.clone(), r.reason.clone()])
}

fn read_targets(
    input: Box<dyn BufRead + Send>,
    opts: ReaderOptions,
    shard: Shard,
    mut rejects: RejectsCsv,
    tx: mpsc::Sender<Job>,
    stats: &ScanStats,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let mut reader = DomainReader::new(input, opts);
    let mut result = Ok(());
    for item in reader.by_ref() {
        if cancel.is_cancelled() {
            break;
        }
        match item {
            Ok(Item::Target(t)) => {
                if !shard.owns_domain(&t.domain) {
                    stats.other_shards.fetch_add(1, Relaxed);
                    continue;
                }
                stats.read.fetch_add(1, Relaxed);
                if tx.blocking_send(Job::Domain(t)).is_err() {
                    break;
                }
            }
            Ok(Item::Reject(r)) => {
                stats.rejects.fetch_add(1, Relaxed);
                write_reject(&mut rejects, &r)?;
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
