//! Stage wiring only: which stages a scan has, how they are joined, where their rows go.
//!
//! ```text
//! reader thread --(bounded)--> domain stage --rows--> domains writer
//!   (domains)                      | MX addresses
//!                                  v
//!                            address dedup --(bounded)--> host stage --rows--> hosts writer
//! reader thread (--ips) ---------------------------------^       |  (--smtp)
//!                                                               v
//!                                            SMTP stage --rows--> hosts writer
//! ```
//!
//! Each stage is [`stage::spawn_stage`] over a [`stage::Probe`], with its own concurrency, so a
//! slow host probe holds back the domains only through backpressure, never by holding their
//! permits. Memory stays flat whatever the input size: every channel is bounded, the address
//! dedup too. Shutdown (see [`stage`]): when `cancel` fires the reader stops, the first stage
//! stops taking targets, later stages drain what earlier ones produced, each within its grace,
//! and the writers flush complete files and the manifest.

pub mod domain;
pub mod host;
pub mod policies;
pub mod progress;
pub mod recipients;
pub mod resume;
pub mod smtp;
pub mod spf_dns;
pub mod stage;
pub mod stats;

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use dashmap::{DashMap, DashSet};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dns::{CacheOptions, Engine, EngineOptions, Resolver};
use crate::output::{DomainRow, HostRow, RecipientRow, TableWriter, WriterOptions};
use crate::targets::ips::{DEFAULT_MAX_V6, IpTargets};
use crate::targets::shard::Shard;
use crate::targets::{DomainReader, Item, ReaderOptions, Reject};
use domain::{DomainOutput, DomainProbe};
use host::{HostChecker, HostOptions, HostProbe};
pub use policies::PolicyOptions;
pub use progress::ProgressMode;
pub use resume::{Resume, ResumeError};
use stage::{Probe, StageStats, StageStop, spawn_stage};
pub use stats::{ManifestInput, RunManifest, ScanStats};

/// Everything a domain scan needs. `Default` gives the documented defaults except what has none
/// (input, output directory, resolvers).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// What to scan. Default: domains, with no input named.
    pub targets: Targets,
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
    /// Go on with the earlier scan in `out` (same input, shard and seed): skip the targets whose
    /// rows are in its parts, continue the part numbering. Default false.
    pub resume: bool,
    pub engine: EngineOptions,
    pub cache: CacheOptions,
    pub reader: ReaderOptions,
    pub writer: WriterOptions,
    /// Domains in flight at once (the domain stage). Default 1000; the engine's window bounds
    /// the queries.
    pub domain_concurrency: usize,
    /// Addresses in flight at once (the host stage), apart from the domains. Default 1000.
    pub host_concurrency: usize,
    /// Check the MX addresses of a domain scan in the host stage (one hosts row each). Default
    /// true; false leaves the hosts table empty (`mx_ips` is still filled).
    pub host_checks: bool,
    /// The SMTP stage after the host stage (`--smtp`). Default `None`: no connection is made.
    pub smtp: Option<smtp::SmtpOptions>,
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
            targets: Targets::Domains(String::new()),
            max_ipv6: DEFAULT_MAX_V6,
            seed: 0,
            shard: Shard::ALL,
            hosts: HostOptions::default(),
            domain: domain::DomainOptions::default(),
            out: PathBuf::new(),
            overwrite: false,
            resume: false,
            engine: EngineOptions::default(),
            cache: CacheOptions::default(),
            reader: ReaderOptions::default(),
            writer: WriterOptions::default(),
            domain_concurrency: 1000,
            host_concurrency: 1000,
            host_checks: true,
            smtp: None,
            hosts_dedup_capacity: 5_000_000,
            progress: ProgressMode::Quiet,
            policies: PolicyOptions::default(),
            command_line: Vec::new(),
        }
    }
}

/// What a scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// A domain list: a path, or `-` for stdin; `.gz` is decompressed.
    Domains(String),
    /// Addresses: a file of addresses, CIDR blocks and `a-b` ranges, or such a list inline
    /// (comma-separated).
    Ips(String),
}

impl Targets {
    /// The input as named by the user (for run.json).
    pub fn input(&self) -> &str {
        match self {
            Targets::Domains(s) | Targets::Ips(s) => s,
        }
    }

    /// `domains` or `ips`.
    pub fn kind(&self) -> &'static str {
        match self {
            Targets::Domains(_) => "domains",
            Targets::Ips(_) => "ips",
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
    Resume(#[from] ResumeError),
    #[error(transparent)]
    Engine(#[from] crate::dns::engine::EngineError),
    #[error("policy stage: {0}")]
    Policy(String),
    #[error("SMTP stage: {0}")]
    Tls(#[from] crate::smtp::tls::TlsSetupError),
    #[error("writing {table}: {source}")]
    Write {
        table: &'static str,
        source: io::Error,
    },
}

pub(crate) fn now_ms() -> i64 {
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
        for d in ["domains", "hosts", "recipients"] {
            if out.join(d).exists() {
                fs::remove_dir_all(out.join(d)).map_err(err)?;
            }
        }
        for f in [
            "domains.csv",
            "hosts.csv",
            "recipients.csv",
            "rejects.csv",
            "run.json",
        ] {
            if out.join(f).exists() {
                fs::remove_file(out.join(f)).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// How a scan is told to stop: a cancellation token, and why it was cancelled (the signal's
/// name, recorded in run.json). A bare `CancellationToken` converts into one.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<std::sync::OnceLock<String>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops the scan (the first reason given is kept).
    pub fn stop(&self, reason: &str) {
        let _ = self.reason.set(reason.to_string());
        self.token.cancel();
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }
}

impl From<CancellationToken> for Stop {
    fn from(token: CancellationToken) -> Stop {
        Stop {
            token,
            reason: Default::default(),
        }
    }
}

/// Runs a scan (domains, or address targets) to the end of the input or until `stop` fires.
pub async fn scan(opts: ScanOptions, stop: impl Into<Stop>) -> Result<RunManifest, ScanError> {
    scan_with(opts, stop, Probes).await
}

/// What a scan's stages run: the probes it builds, or wrappers of them. [`scan`] runs them as
/// they are; a test wraps them through the same probe interface (a delay, an injected panic)
/// without any test branch in the scan itself.
pub trait ProbeLayer: Send + Sync + 'static {
    type Domain: Probe<Target = String, Output = DomainOutput>;
    type Host: Probe<Target = IpAddr, Output = HostRow>;
    fn domain(&self, probe: DomainProbe) -> Self::Domain;
    fn host(&self, probe: HostProbe) -> Self::Host;
}

/// The probes as built.
pub struct Probes;

impl ProbeLayer for Probes {
    type Domain = DomainProbe;
    type Host = HostProbe;
    fn domain(&self, probe: DomainProbe) -> DomainProbe {
        probe
    }
    fn host(&self, probe: HostProbe) -> HostProbe {
        probe
    }
}

/// [`scan`] with the probes passed through `layer`.
pub async fn scan_with<L: ProbeLayer>(
    opts: ScanOptions,
    stop: impl Into<Stop>,
    layer: L,
) -> Result<RunManifest, ScanError> {
    let stop_handle: Stop = stop.into();
    let cancel = stop_handle.token().clone();
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let policy =
        Arc::new(policies::PolicyStage::new(opts.policies.clone()).map_err(ScanError::Policy)?);
    let resume_at = |n| opts.resume.then_some(n);
    let resume = if opts.resume {
        Resume::load(&opts)?
    } else {
        prepare_out(&opts.out, opts.overwrite)?;
        Resume::default()
    };
    let stats = Arc::new(ScanStats::default());
    stats.set_input(resume.input(&opts.targets)?);
    let out_err = |source| ScanError::Output {
        path: opts.out.clone(),
        source,
    };
    let rejects_path = opts.out.join("rejects.csv");
    let write_err = |source: csv::Error| ScanError::Write {
        table: "rejects.csv",
        source: source.into(),
    };
    let mut rejects = if opts.resume && rejects_path.exists() {
        // Resume::load cut a last line the kill left half-written.
        let f = fs::OpenOptions::new()
            .append(true)
            .open(&rejects_path)
            .map_err(out_err)?;
        let empty = f.metadata().map_err(out_err)?.len() == 0;
        let mut w = csv::Writer::from_writer(BufWriter::new(f));
        if empty {
            w.write_record(["line", "text", "reason"])
                .map_err(write_err)?;
        }
        Rejects::new(w, resume.rejects_through)
    } else {
        let mut w = csv::Writer::from_writer(BufWriter::new(
            File::create(&rejects_path).map_err(out_err)?,
        ));
        w.write_record(["line", "text", "reason"])
            .map_err(write_err)?;
        Rejects::new(w, 0)
    };
    // The header on disk at once: a scan killed before its first reject still leaves a CSV file
    // a reader (or --resume) takes as one.
    rejects.flush().map_err(|e| write_err(e.into()))?;
    // Address targets are parsed up front (a spec list is small even when its ranges are huge),
    // so that bad lines and the total are known before the first probe.
    let source = match &opts.targets {
        Targets::Ips(spec) => {
            let targets = ip_targets(spec, &opts, &stats, &mut rejects).map_err(ScanError::Ips)?;
            rejects.flush().map_err(|e| write_err(e.into()))?;
            Source::Ips(targets)
        }
        Targets::Domains(input) => Source::Domains(crate::targets::open(input).map_err(
            |source| ScanError::Input {
                path: input.clone(),
                source,
            },
        )?),
    };
    let engine = Engine::new(opts.engine.clone()).await?;
    let resolver = Resolver::new(engine, opts.cache.clone());
    let checker = Arc::new(HostChecker::new(opts.hosts.clone()));
    let smtp_probe = match &opts.smtp {
        Some(o) => {
            let tls = crate::smtp::TlsProbe::new(&o.extra_roots, o.only_extra_roots)?;
            Some(Arc::new(smtp::SmtpProbe::new(o.clone(), tls)))
        }
        None => None,
    };
    // How the scan came to each address, from the domain stage to the SMTP stage; an entry
    // lives only while its address is between the two, so it is bounded by the channels.
    let vias: Arc<DashMap<IpAddr, Arc<smtp::Via>>> = Arc::new(DashMap::new());

    // The chain: source -> [domains ->] address dedup -> hosts -> writers, each stage with its
    // own concurrency and a bounded input channel.
    let host_probe = Arc::new(layer.host(HostProbe {
        resolver: resolver.clone(),
        checker: checker.clone(),
        concurrency: opts.host_concurrency.max(1),
    }));
    let domain_probe = match &source {
        Source::Domains(_) => Some(Arc::new(layer.domain(DomainProbe {
            resolver: resolver.clone(),
            opts: opts.domain.clone(),
            policy: policy.clone(),
            stats: stats.clone(),
            checker: checker.clone(),
            concurrency: opts.domain_concurrency.max(1),
        }))),
        Source::Ips(_) => None,
    };
    // Grace after a stop: each stage may run for the worst cases of the stages up to itself.
    let domain_grace = domain_probe.as_ref().map(|p| p.worst_case());
    let host_grace = domain_grace.unwrap_or_default() + host_probe.worst_case();
    let smtp_grace = host_grace
        + smtp_probe
            .as_ref()
            .map(|p| p.worst_case())
            .unwrap_or_default();
    let stage_stop = |first: bool, grace: Duration| StageStop {
        cancel: cancel.clone(),
        first,
        grace,
    };

    // Room kept for the last run.json: a disk that fills up mid-scan still gets a manifest that
    // says so (the reserve is given back just before it is written).
    let reserve = opts.out.join(RESERVE);
    fs::write(&reserve, vec![0u8; RESERVE_BYTES]).map_err(out_err)?;
    let (domains, domains_done) = TableWriter::<DomainRow>::start(
        &opts.out,
        "domains",
        &opts.writer,
        resume_at(resume.domain_parts),
        cancel.clone(),
    )
    .map_err(out_err)?;
    let (hosts, hosts_done) = TableWriter::<HostRow>::start(
        &opts.out,
        "hosts",
        &opts.writer,
        resume_at(resume.host_parts),
        cancel.clone(),
    )
    .map_err(out_err)?;
    // The recipient tests' long table, with `--smtp-recipients`.
    let recipient_writer = match &smtp_probe {
        Some(p) if p.opts.session.recipients => {
            let (w, done) = TableWriter::<RecipientRow>::start(
                &opts.out,
                "recipients",
                &opts.writer,
                resume_at(resume.recipient_parts),
                cancel.clone(),
            )
            .map_err(out_err)?;
            p.write_recipients_to(recipients::RecipientSink::new(
                w.clone(),
                stats.recipients.clone(),
            ));
            Some((w, done))
        }
        _ => None,
    };
    let (domains_written, hosts_written) = (domains.written(), hosts.written());
    let mut live = vec![domains_written.clone(), hosts_written.clone()];
    let mut written_tables = vec![("domains", domains_written), ("hosts", hosts_written)];
    if let Some((w, _)) = &recipient_writer {
        live.push(w.written());
        written_tables.push(("recipients", w.written()));
    }
    // Domains whose most preferred MX address another domain already led the scan to: their
    // recipient tests, batched by address.
    let (batch_tx, batcher) = match (&smtp_probe, &recipient_writer) {
        (Some(p), Some((w, _))) if matches!(source, Source::Domains(_)) => {
            let (tx, rx) = mpsc::channel::<recipients::RecipientJob>(1024);
            let checker = checker.clone();
            let handle = tokio::spawn(recipients::run(
                rx,
                p.clone(),
                Arc::new(move |ip| checker.excluded(ip)),
                recipients::RecipientSink::new(w.clone(), stats.recipients.clone()),
                p.opts.recipient_batches.clone(),
                cancel.clone(),
            ));
            (Some(tx), Some(handle))
        }
        _ => (None, None),
    };
    let recipients_done = recipient_writer.map(|(_, done)| done);
    stats
        .resumed_orphans
        .store(resume.orphans.len() as u64, Relaxed);
    let Resume {
        domains: done_domains,
        hosts: done_hosts,
        orphans,
        history: resumes,
        ..
    } = resume;
    let resumes = Arc::new(resumes);

    // Stages start from the last to the first, so each knows where its outputs go.
    let (host_tx, host_rx) = mpsc::channel::<IpAddr>(host_probe.concurrency().clamp(1, 4096));
    let address_scan = domain_probe.is_none();
    let host_stats = Arc::new(StageStats::new(host_probe.name(), host_probe.concurrency()));
    // The last stage's rows go to the hosts writer.
    let write_host = {
        let stats = stats.clone();
        move |row: HostRow| {
            let (hosts, stats) = (hosts.clone(), stats.clone());
            async move {
                stats.record_host(&row);
                if address_scan {
                    stats.done.fetch_add(1, Relaxed);
                }
                hosts.send(row).await;
            }
        }
    };
    let mut handles = Vec::new();
    let mut stages = Vec::new();
    match &smtp_probe {
        Some(probe) => {
            let (smtp_tx, smtp_rx) =
                mpsc::channel::<smtp::SmtpTarget>(probe.concurrency().clamp(1, 4096));
            let smtp_stats = Arc::new(StageStats::new(probe.name(), probe.concurrency()));
            handles.push(spawn_stage(
                probe.clone(),
                smtp_rx,
                write_host,
                stage_stop(false, smtp_grace),
                smtp_stats.clone(),
            ));
            let vias = vias.clone();
            handles.push(spawn_stage(
                host_probe.clone(),
                host_rx,
                move |row: HostRow| {
                    let smtp_tx = smtp_tx.clone();
                    let via = row
                        .ip
                        .parse()
                        .ok()
                        .and_then(|ip| vias.remove(&ip))
                        .map(|(_, v)| v);
                    async move {
                        let _ = smtp_tx.send(smtp::SmtpTarget { row, via }).await;
                    }
                },
                stage_stop(address_scan, host_grace),
                host_stats.clone(),
            ));
            stages.push(host_stats);
            stages.push(smtp_stats);
        }
        None => {
            handles.push(spawn_stage(
                host_probe.clone(),
                host_rx,
                write_host,
                stage_stop(address_scan, host_grace),
                host_stats.clone(),
            ));
            stages.push(host_stats);
        }
    }

    let reader = {
        let stats = stats.clone();
        let cancel = cancel.clone();
        let ropts = opts.reader.clone();
        let (shard, seed) = (opts.shard, opts.seed);
        match (source, domain_probe) {
            (Source::Domains(input), Some(probe)) => {
                let dedup = Arc::new(AddressDedup::new(opts.hosts_dedup_capacity));
                // A resumed scan's hosts rows are there already; the addresses of its done
                // domains that have none (in flight at the kill) are checked first.
                for ip in done_hosts.iter() {
                    dedup.first_time(*ip);
                }
                if opts.host_checks && !orphans.is_empty() {
                    let (host_tx, vias, dedup) = (host_tx.clone(), vias.clone(), dedup.clone());
                    let track_via = smtp_probe.is_some();
                    tokio::spawn(async move {
                        for (ip, via) in orphans {
                            if !dedup.first_time(ip) {
                                continue;
                            }
                            if let (true, Some(via)) = (track_via, via) {
                                vias.insert(ip, Arc::new(via));
                            }
                            if host_tx.send(ip).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                stats.set_dedup(dedup.clone());
                let domain_stats = Arc::new(StageStats::new(probe.name(), probe.concurrency()));
                let host_checks = opts.host_checks;
                let track_via = smtp_probe.is_some();
                let vias = vias.clone();
                let batch_tx = batch_tx.clone();
                let (dtx, drx) = mpsc::channel::<String>(1024);
                {
                    let stats = stats.clone();
                    let host_tx = host_tx.clone();
                    handles.push(spawn_stage(
                        probe,
                        drx,
                        move |out: DomainOutput| {
                            let (domains, stats, dedup, host_tx, vias, batch_tx) = (
                                domains.clone(),
                                stats.clone(),
                                dedup.clone(),
                                host_tx.clone(),
                                vias.clone(),
                                batch_tx.clone(),
                            );
                            async move {
                                stats.record_domain(&out.row);
                                let domain = out.row.domain.clone();
                                let soa_contact = out.row.soa_rname.clone();
                                domains.send(out.row).await;
                                let ips = if host_checks { out.ips } else { Vec::new() };
                                // The recipient tests of a domain run in the own session of
                                // each address it is the first to lead to (as the hosts row's
                                // columns say); a domain that leads to no new address is tested
                                // at its most preferred one, batched with the other domains there.
                                let first: Vec<bool> =
                                    ips.iter().map(|ip| dedup.first_time(*ip)).collect();
                                if let (false, Some(tx), Some(ip), Some(exchange)) = (
                                    first.contains(&true),
                                    &batch_tx,
                                    ips.first(),
                                    out.exchanges.first(),
                                ) {
                                    let job = recipients::RecipientJob {
                                        ip: *ip,
                                        domain: crate::smtp::session::RecipientDomain {
                                            domain: domain.clone(),
                                            exchange: exchange.clone(),
                                            soa_contact: soa_contact.clone(),
                                        },
                                    };
                                    let _ = tx.send(job).await;
                                }
                                for ((ip, exchange), new) in
                                    ips.into_iter().zip(out.exchanges).zip(first)
                                {
                                    if !new {
                                        continue;
                                    }
                                    if track_via {
                                        let via = smtp::Via {
                                            domain: domain.clone(),
                                            exchange,
                                            soa_contact: soa_contact.clone(),
                                        };
                                        vias.insert(ip, Arc::new(via));
                                    }
                                    if host_tx.send(ip).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        },
                        stage_stop(true, domain_grace.unwrap_or_default()),
                        domain_stats.clone(),
                    ));
                }
                stages.insert(0, domain_stats);
                if let Targets::Domains(path) = &opts.targets
                    && let Some(total) = counting_thread(path)
                {
                    stats.set_total_source(total);
                }
                std::thread::spawn(move || {
                    let wanted = Wanted {
                        shard,
                        done: done_domains,
                    };
                    read_targets(input, ropts, wanted, rejects, dtx, &stats, &cancel)
                })
            }
            (Source::Ips(targets), _) => {
                drop(domains);
                let host_tx = host_tx.clone();
                std::thread::spawn(move || {
                    let mut tx = BatchSender::new(&host_tx);
                    for ip in shard.ips(&targets, seed) {
                        if done_hosts.contains(&ip) {
                            stats.resumed_skipped.fetch_add(1, Relaxed);
                            continue;
                        }
                        if cancel.is_cancelled() || tx.send(ip).is_err() {
                            break;
                        }
                        stats.read.fetch_add(1, Relaxed);
                    }
                    stats.input_done.store(true, Relaxed);
                    rejects.flush()
                })
            }
            (Source::Domains(_), None) => unreachable!("a domain source has a domain probe"),
        }
    };
    drop(host_tx);
    drop(batch_tx);

    let progress = progress::start(opts.progress, stats.clone(), resolver.clone());
    // run.json as a checkpoint: written now and every flush interval while the scan runs.
    let checkpoint = {
        let shared = Arc::new(opts.clone());
        let (stats, resolver, stages) = (stats.clone(), resolver.clone(), stages.clone());
        let resumes = resumes.clone();
        let written = written_tables;
        let every = opts.writer.flush_interval;
        let out = opts.out.clone();
        let build = move || {
            RunManifest::build(ManifestInput {
                opts: &shared,
                started,
                elapsed: t0.elapsed(),
                state: "running",
                interrupted: false,
                signal: None,
                stats: &stats,
                input_error: None,
                error: None,
                resolver: &resolver,
                tables: written.iter().map(|(t, w)| (*t, w.get())).collect(),
                stages: stages.iter().map(|s| s.report()).collect(),
                resumes: &resumes,
            })
        };
        write_manifest(&out, &build()).map_err(|source| ScanError::Write {
            table: "run.json",
            source,
        })?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                // A failed checkpoint is not worth stopping the scan for: the final write
                // reports its error.
                let _ = write_manifest(&out, &build());
            }
        })
    };
    // Each stage ends once its input has closed and its probes are done (or abandoned).
    for h in handles.into_iter().rev() {
        let _ = h.await;
    }
    if let Some(b) = batcher {
        let _ = b.await;
    }
    // The probe holds a sender of the recipients writer, which ends only when every sender has.
    drop(smtp_probe);
    let interrupted = cancel.is_cancelled();
    let reader_stats = reader
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
    let mut tables = vec![("domains", domains_done), ("hosts", hosts_done)];
    tables.extend(recipients_done.map(|d| ("recipients", d)));
    let mut written = Vec::new();
    // A writer that failed cancelled the scan; the other tables are still flushed, and run.json
    // says what happened before the error is returned.
    let mut write_error = None;
    for ((table, done), live) in tables.into_iter().zip(live) {
        match done.await.map_err(io::Error::other).and_then(|r| r) {
            Ok(w) => written.push((table, w)),
            Err(source) => {
                written.push((table, live.get()));
                write_error.get_or_insert(ScanError::Write { table, source });
            }
        }
    }
    progress.finish().await;
    checkpoint.abort();
    let _ = checkpoint.await;

    let manifest = RunManifest::build(ManifestInput {
        opts: &opts,
        started,
        elapsed: t0.elapsed(),
        state: match (&write_error, interrupted) {
            (Some(_), _) => "failed",
            (None, true) => "interrupted",
            (None, false) => "done",
        },
        interrupted,
        signal: stop_handle.reason().map(str::to_string),
        stats: &stats,
        input_error: reader_stats.err().map(|e| e.to_string()),
        error: write_error.as_ref().map(ScanError::to_string),
        resolver: &resolver,
        tables: written,
        stages: stages.iter().map(|s| s.report()).collect(),
        resumes: &resumes,
    });
    let _ = fs::remove_file(&reserve);
    let manifest_written = write_manifest(&opts.out, &manifest);
    if let Some(e) = write_error {
        // The first failure is the news; a manifest that could not follow it is second.
        return Err(e);
    }
    manifest_written.map_err(|source| ScanError::Write {
        table: "run.json",
        source,
    })?;
    Ok(manifest)
}

/// The file in OUT that holds [`RESERVE_BYTES`] for the final run.json while a scan runs.
const RESERVE: &str = ".run.json.reserve";
/// A manifest is a few KB; this leaves room for a large one.
const RESERVE_BYTES: usize = 64 * 1024;

/// Writes run.json atomically: a temporary file renamed over it, so a reader (or a crash) only
/// ever sees a whole manifest.
fn write_manifest(out: &Path, manifest: &RunManifest) -> io::Result<()> {
    let tmp = out.join(".run.json.tmp");
    let mut f = BufWriter::new(File::create(&tmp)?);
    serde_json::to_writer_pretty(&mut f, manifest)?;
    io::Write::flush(&mut f)?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(tmp, out.join("run.json"))
}

/// Remembers the addresses already handed to the host stage, so each gets one hosts row however
/// many domains share it. Bounded: past `capacity` a new address is probed without being
/// remembered (it may then get a second row), and counted.
#[derive(Debug)]
pub struct AddressDedup {
    seen: DashSet<IpAddr, ahash::RandomState>,
    capacity: usize,
    overflow: std::sync::atomic::AtomicU64,
}

impl AddressDedup {
    pub fn new(capacity: usize) -> AddressDedup {
        AddressDedup {
            seen: DashSet::default(),
            capacity,
            overflow: Default::default(),
        }
    }

    /// True the first time an address is seen (and, past the capacity, for every address not
    /// remembered).
    pub fn first_time(&self, ip: IpAddr) -> bool {
        if self.seen.len() < self.capacity {
            self.seen.insert(ip)
        } else if self.seen.contains(&ip) {
            false
        } else {
            self.overflow.fetch_add(1, Relaxed);
            true
        }
    }

    /// Addresses passed on without being remembered.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Relaxed)
    }
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

/// rejects.csv. A resumed scan reads its input again from the start: the lines an earlier run
/// already wrote (up to `through`) are not written twice.
struct Rejects {
    w: csv::Writer<BufWriter<File>>,
    through: u64,
}

impl Rejects {
    fn new(w: csv::Writer<BufWriter<File>>, through: u64) -> Rejects {
        Rejects { w, through }
    }

    fn write(&mut self, r: &Reject) -> csv::Result<()> {
        if r.line <= self.through {
            return Ok(());
        }
        self.w
            .write_record([r.line.to_string(), r.text.clone(), r.reason.clone()])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// What feeds the scan.
enum Source {
    Domains(Box<dyn BufRead + Send>),
    Ips(IpTargets),
}

/// Parses an address spec (a file when `spec` names one, else an inline comma-separated list),
/// writes its bad lines to rejects.csv, and removes excluded addresses.
fn ip_targets(
    spec: &str,
    opts: &ScanOptions,
    stats: &ScanStats,
    rejects: &mut Rejects,
) -> Result<IpTargets, String> {
    use crate::targets::ips;
    let list = if Path::new(spec).is_file() {
        ips::parse_spec_file(Path::new(spec), opts.max_ipv6).map_err(|e| e.to_string())?
    } else {
        ips::parse_spec_inline(spec, opts.max_ipv6)
    };
    for r in &list.rejects {
        stats.rejects.fetch_add(1, Relaxed);
        rejects.write(r).map_err(|e| e.to_string())?;
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

/// Which of the input's domains this run scans: its shard's, less those an earlier run of a
/// resumed scan did.
struct Wanted {
    shard: Shard,
    done: Arc<resume::DoneDomains>,
}

/// Sends from a blocking thread (the input's reader), taking the channel's places
/// [`SEND_BATCH`] at a time. The stage frees one place per target it takes, and a sender
/// blocked for one place was woken for each: 45% of a domain scan's futex calls were the
/// reader thread's wake-ups. Each item still goes out as soon as it is read.
struct BatchSender<'a, T> {
    tx: &'a mpsc::Sender<T>,
    places: Option<mpsc::PermitIterator<'a, T>>,
}

const SEND_BATCH: usize = 64;

impl<'a, T> BatchSender<'a, T> {
    fn new(tx: &'a mpsc::Sender<T>) -> Self {
        BatchSender { tx, places: None }
    }

    /// Blocks until the channel has a place (`SEND_BATCH` of them when it had none left);
    /// `Err` once the receiver is gone.
    fn send(&mut self, item: T) -> Result<(), mpsc::error::SendError<T>> {
        if let Some(place) = self.places.as_mut().and_then(Iterator::next) {
            place.send(item);
            return Ok(());
        }
        let n = SEND_BATCH.min(self.tx.max_capacity());
        match futures::executor::block_on(self.tx.reserve_many(n)) {
            Ok(mut places) => {
                places.next().expect("n >= 1 places").send(item);
                self.places = Some(places);
                Ok(())
            }
            Err(_) => Err(mpsc::error::SendError(item)),
        }
    }
}

fn read_targets(
    input: Box<dyn BufRead + Send>,
    opts: ReaderOptions,
    wanted: Wanted,
    mut rejects: Rejects,
    tx: mpsc::Sender<String>,
    stats: &ScanStats,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let mut reader = DomainReader::new(input, opts);
    let mut tx = BatchSender::new(&tx);
    let mut result = Ok(());
    for item in reader.by_ref() {
        if cancel.is_cancelled() {
            break;
        }
        match item {
            Ok(Item::Target(t)) => {
                if !wanted.shard.owns_domain(&t.domain) {
                    stats.other_shards.fetch_add(1, Relaxed);
                    continue;
                }
                if wanted.done.contains(&t.domain) {
                    stats.resumed_skipped.fetch_add(1, Relaxed);
                    continue;
                }
                stats.read.fetch_add(1, Relaxed);
                if tx.send(t.domain).is_err() {
                    break;
                }
            }
            Ok(Item::Reject(r)) => {
                stats.rejects.fetch_add(1, Relaxed);
                rejects.write(&r)?;
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
