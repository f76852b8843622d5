//! Counters of a scan and the run manifest (run.json).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::stage::StageReport;
use super::{ScanOptions, Targets};
use crate::dns::{Resolver, Status};
use crate::output::status::HostStatus;
use crate::output::{DomainRow, HostRow, RecipientRow, Table, WriterStats};

#[derive(Debug, Default)]
pub struct ScanStats {
    /// Valid domains read from the input.
    pub read: AtomicU64,
    pub rejects: AtomicU64,
    pub duplicates: AtomicU64,
    /// Domains whose row was produced.
    pub done: AtomicU64,
    /// Distinct host addresses found.
    pub hosts: AtomicU64,
    /// Domains left to other shards.
    pub other_shards: AtomicU64,
    /// Targets skipped by `--resume` because their rows are in the earlier parts.
    pub resumed_skipped: AtomicU64,
    /// MX addresses of done domains checked again by `--resume` (no hosts row yet).
    pub resumed_orphans: AtomicU64,
    /// Addresses removed from range targets by the exclusion list.
    pub excluded: AtomicU64,
    pub dedup_overflow: AtomicBool,
    pub input_done: AtomicBool,
    pub policies: super::policies::PolicyStats,
    /// The recipient batches and the recipients table's statuses (`--smtp-recipients`).
    pub recipients: Arc<super::recipients::BatchStats>,
    /// The last pass of the domain stage, and of the host stage.
    pub last_pass_domains: Arc<super::last_pass::LastPassStats>,
    pub last_pass_hosts: Arc<super::last_pass::LastPassStats>,
    total: OnceLock<Arc<OnceLock<u64>>>,
    /// The input file's size and hash at the start (`--resume` checks them).
    input: OnceLock<super::resume::InputFingerprint>,
    dedup: OnceLock<Arc<super::AddressDedup>>,
    /// column -> status -> domains
    by_status: Mutex<BTreeMap<&'static str, BTreeMap<&'static str, u64>>>,
}

impl ScanStats {
    /// The address dedup between the domain and host stages, for its overflow count.
    pub fn set_dedup(&self, dedup: Arc<super::AddressDedup>) {
        let _ = self.dedup.set(dedup);
    }

    pub fn set_total_source(&self, total: Arc<OnceLock<u64>>) {
        let _ = self.total.set(total);
    }

    /// The input file's size and hash as the scan started; None leaves them null in run.json
    /// (stdin, a pipe, an inline address list).
    pub fn set_input(&self, input: Option<super::resume::InputFingerprint>) {
        if let Some(f) = input {
            let _ = self.input.set(f);
        }
    }

    /// Data lines in the input, once counted (None for stdin or while counting).
    pub fn total(&self) -> Option<u64> {
        self.total.get().and_then(|t| t.get().copied())
    }

    pub fn record_domain(&self, row: &DomainRow) {
        self.done.fetch_add(1, Relaxed);
        use crate::output::Row;
        let mut m = self.by_status.lock();
        // The domains' status columns are required: a null would be no status to count.
        for (col, st) in row.statuses() {
            if let Some(st) = st {
                *m.entry(col).or_default().entry(st).or_default() += 1;
            }
        }
    }

    pub fn record_host(&self, row: &HostRow) {
        use crate::output::Row;
        let mut m = self.by_status.lock();
        for (col, st) in row.statuses() {
            // A host that was not checked (skipped, or its probe failed) has null check statuses:
            // they count under the host's own status, so every column's counts add up to the hosts.
            // A column null for a checked host (smtp_status without --smtp) is not counted.
            let unchecked = row.host_status != HostStatus::Ok;
            let Some(st) = st.or(unchecked.then_some(row.host_status.as_str())) else {
                continue;
            };
            *m.entry(col).or_default().entry(st).or_default() += 1;
        }
        self.hosts.fetch_add(1, Relaxed);
    }

    pub fn by_status(&self) -> BTreeMap<&'static str, BTreeMap<&'static str, u64>> {
        self.by_status.lock().clone()
    }
}

#[derive(Debug, Serialize)]
pub struct RunManifest {
    pub tool: &'static str,
    pub version: &'static str,
    pub command_line: Vec<String>,
    pub input: String,
    /// The input file's size in bytes when the scan started; null for stdin, a pipe or an
    /// inline address list. `--resume` refuses a file whose size or hash differ.
    pub input_bytes: Option<u64>,
    /// SHA-256 of the whole input file when the scan started (lowercase hex, as `sha256sum`
    /// prints it); null where `input_bytes` is.
    pub input_sha256: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// `running` (a checkpoint: written at the start and rewritten every flush interval, so a
    /// killed scan's directory still says what it holds), `done`, `interrupted`, or `failed`
    /// (an output file could not be written: `error` says which and why; the parts already
    /// written are whole, and `--resume` goes on from them).
    pub state: &'static str,
    /// Stopped (Ctrl-C, SIGTERM, SIGHUP) before the end of the input.
    pub interrupted: bool,
    /// The signal that stopped it: `SIGINT`, `SIGTERM`, `SIGHUP`; null when it ran to the end, was
    /// stopped through the library without a reason, or stopped itself (`reason`).
    pub signal: Option<String>,
    /// What stopped it: the signal's name, or `resolvers-unreachable` (no resolver answered for
    /// `--resolver-outage-limit`); null when it ran to the end. Absent before version 0.37.
    pub reason: Option<String>,
    /// Set when reading the input failed part-way; the rows before it were scanned.
    pub input_error: Option<String>,
    /// With `state: failed`: the write that failed (`writing hosts: No space left on device`).
    pub error: Option<String>,
    pub resolvers: Vec<String>,
    pub options: ManifestOptions,
    pub counts: Counts,
    pub status_counts: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub rates: Rates,
    /// CPU the process used (null where the system does not say).
    pub cpu: Option<CpuUse>,
    pub dns: DnsCounts,
    pub cache: CacheCounts,
    /// `I/N`: this run scanned part I of N of the input (0/1: all of it).
    pub shard: String,
    /// Seed of the address order; every shard of one scan must use the same.
    pub seed: u64,
    pub targets: &'static str,
    pub dnsbl_zones: Vec<String>,
    /// Each stage on its own: concurrency, targets, panics, abandoned, its own throughput.
    pub stages: Vec<StageReport>,
    /// The targets held for the last pass (a `timeout` or `servfail` in their row) by the domain
    /// and host stages, and what became of them.
    pub last_pass: LastPassReport,
    /// The SMTP stage's settings and trust store; null without `--smtp`.
    pub smtp: Option<SmtpManifest>,
    /// The VRP set `rpki_status` was judged against; null without `--rpki-vrps`.
    pub rpki: Option<RpkiManifest>,
    /// Every `--resume` of this output directory, the last one this run's; empty for a scan
    /// that ran in one go.
    pub resumes: Vec<super::resume::ResumeRecord>,
}

fn smtp_manifest(o: &crate::pipeline::smtp::SmtpOptions) -> SmtpManifest {
    let s = &o.session;
    let mozilla = webpki_roots::TLS_SERVER_ROOTS.len();
    let extra = o.extra_roots.len();
    let webpki = format!("webpki-roots {}", crate::smtp::tls::WEBPKI_ROOTS_VERSION);
    SmtpManifest {
        ports: o.ports.iter().map(|p| p.to_string()).collect(),
        helo: s.helo.as_str().to_string(),
        relay_domain: s.relay_domain.clone(),
        starttls: s.starttls,
        recipients: s.recipients,
        concurrency: o.concurrency,
        per_net: o.per_net,
        rate: o.rate,
        connect_timeout_ms: s.deadlines.connect.as_millis() as u64,
        reply_timeout_ms: s.deadlines.reply.as_millis() as u64,
        session_timeout_ms: s.deadlines.session.as_millis() as u64,
        trust_store: match (o.only_extra_roots, extra) {
            (true, _) => "--smtp-ca only".into(),
            (false, 0) => webpki,
            (false, n) => format!("{webpki} + {n} extra"),
        },
        trust_anchors: if o.only_extra_roots {
            extra
        } else {
            mozilla + extra
        },
    }
}

/// See [`RunManifest::rpki`].
#[derive(Debug, Serialize)]
pub struct RpkiManifest {
    /// `--rpki-vrps` as given.
    pub file: String,
    /// SHA-256 of the file, lowercase hex: the RPKI snapshot the scan was judged against.
    pub sha256: String,
    /// `json` or `csv`.
    pub format: &'static str,
    /// Distinct VRPs (prefix, max length, AS) in the file.
    pub vrps: usize,
}

fn rpki_manifest(f: &crate::rpki::VrpFile) -> RpkiManifest {
    RpkiManifest {
        file: f.path.display().to_string(),
        sha256: f.sha256.clone(),
        format: f.format.as_str(),
        vrps: f.set.len(),
    }
}

/// See [`RunManifest::last_pass`].
#[derive(Debug, Serialize)]
pub struct LastPassReport {
    pub domains: super::last_pass::LastPassCounts,
    pub hosts: super::last_pass::LastPassCounts,
}

#[derive(Debug, Serialize)]
pub struct SmtpManifest {
    /// `--smtp-ports`, in order (`465`, `N/tls`: implicit TLS).
    pub ports: Vec<String>,
    pub helo: String,
    pub relay_domain: Option<String>,
    pub starttls: bool,
    pub recipients: bool,
    pub concurrency: usize,
    pub per_net: usize,
    pub rate: u32,
    pub connect_timeout_ms: u64,
    pub reply_timeout_ms: u64,
    pub session_timeout_ms: u64,
    /// `webpki-roots <version>` (Mozilla's roots), with `+ N extra` for `--smtp-ca`, or
    /// `--smtp-ca only`.
    pub trust_store: String,
    pub trust_anchors: usize,
}

#[derive(Debug, Serialize)]
pub struct ManifestOptions {
    pub timeout_ms: u64,
    pub retries: u32,
    pub concurrency: usize,
    pub domain_concurrency: usize,
    pub host_concurrency: usize,
    pub host_checks: bool,
    pub rate: Option<u32>,
    pub rate_per_resolver: Option<u32>,
    pub edns_payload: u16,
    pub dnssec_ok: bool,
    pub dmarc_discovery: &'static str,
    pub psl: &'static str,
    /// `providers` (each domain's own plan: its providers' selectors, then the common list),
    /// `list` (`--dkim-selectors`), or `off`.
    pub dkim_plan: &'static str,
    /// Selectors of the list, or of the common list for `providers`; 0 when off.
    pub dkim_selectors: usize,
    pub mta_sts_fetch: bool,
    /// Worker threads of the runtime the scan ran on (`--threads`; 1 on a current-thread
    /// runtime, 0 outside any).
    pub worker_threads: usize,
}

#[derive(Debug, Serialize)]
pub struct Counts {
    pub domains_read: u64,
    pub domains_scanned: u64,
    pub rejects: u64,
    pub duplicates: u64,
    /// Repeats past the dedup capacity may have been scanned twice.
    pub dedup_overflow: bool,
    /// Domains left to other shards (domain inputs with --shard).
    pub other_shards: u64,
    /// Targets skipped by `--resume`: their rows are in the parts of an earlier run (see
    /// `resumes`). The other counts are of this run only.
    pub resumed_skipped: u64,
    /// MX addresses of the earlier run's domains that had no hosts row, checked by this run.
    pub resumed_orphan_hosts: u64,
    /// Addresses of range targets removed by the exclusion list.
    pub excluded: u64,
    /// Targets running in some stage when its shutdown grace ran out (sum over the stages).
    pub abandoned: u64,
    /// Targets queued in some stage but never started because the scan was stopped.
    pub unstarted: u64,
    /// Probes that failed themselves (a panic): their rows say `error`.
    pub panicked: u64,
    pub hosts: u64,
    /// MX addresses handed to the host stage past the dedup's capacity without being
    /// remembered (each may have more than one hosts row).
    pub hosts_dedup_overflow: u64,
    /// DKIM selector queries not sent because `_domainkey.<domain>` was NXDOMAIN (RFC 8020).
    pub dkim_probes_saved: u64,
    /// DKIM selector queries sent.
    pub dkim_probes_sent: u64,
    /// The probe plans' lengths, summed over the domains (sent + saved + not asked after a
    /// failed `_domainkey` query).
    pub dkim_probes_planned: u64,
    pub domains_written: WriterStats,
    pub hosts_written: WriterStats,
    /// The recipients table (`--smtp-recipients`), null without it.
    pub recipients_written: Option<WriterStats>,
    /// The recipient batches (`--smtp-recipients`), null without them.
    pub recipient_batches: Option<RecipientBatches>,
}

/// What the recipient batcher did (domains that led the scan to no new address).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RecipientBatches {
    /// Domains queued at their most preferred MX address.
    pub queued: u64,
    /// Batch sessions opened.
    pub sessions: u64,
    /// Domains over the address's RCPT budget (row status `budget`).
    pub over_budget: u64,
}

/// What a finished scan reports, gathered by the wiring.
pub struct ManifestInput<'a> {
    pub opts: &'a ScanOptions,
    pub started: chrono::DateTime<chrono::Utc>,
    pub elapsed: Duration,
    /// `running`, `done`, `interrupted` or `failed`.
    pub state: &'static str,
    pub interrupted: bool,
    pub signal: Option<String>,
    pub stats: &'a ScanStats,
    pub input_error: Option<String>,
    pub error: Option<String>,
    pub resolver: &'a Resolver,
    /// Each table written, with its counts.
    pub tables: Vec<(&'static str, WriterStats)>,
    pub stages: Vec<StageReport>,
    pub resumes: &'a [super::resume::ResumeRecord],
}

#[derive(Debug, Serialize)]
pub struct Rates {
    /// Domains (domain scans) or addresses (address scans) per second.
    pub targets_per_s: f64,
    pub queries_per_s: f64,
}

/// What the scan cost in CPU, beside how long it took: on a machine shared with a local resolver
/// (benches/README.md) every microsecond of it is taken from the resolver, and a user sizing a scan
/// of millions of domains wants cores, not only seconds.
#[derive(Debug, Serialize, PartialEq)]
pub struct CpuUse {
    /// The process's user and system CPU time, all threads (the writer's included).
    pub user_s: f64,
    pub system_s: f64,
    /// (user + system) per DNS query asked, in microseconds; null before the first query.
    pub per_query_us: Option<f64>,
}

impl CpuUse {
    /// The process's use so far (`getrusage`), spread over `queries`.
    pub fn now(queries: u64) -> Option<CpuUse> {
        let (user_s, system_s) = process_cpu()?;
        Some(CpuUse::of(user_s, system_s, queries))
    }

    fn of(user_s: f64, system_s: f64, queries: u64) -> CpuUse {
        CpuUse {
            user_s,
            system_s,
            per_query_us: (queries > 0).then(|| (user_s + system_s) * 1e6 / queries as f64),
        }
    }
}

/// User and system CPU seconds of the whole process.
#[cfg(unix)]
fn process_cpu() -> Option<(f64, f64)> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given and nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above (and zeroed before it).
    let ru = unsafe { ru.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some((secs(ru.ru_utime), secs(ru.ru_stime)))
}

#[cfg(not(unix))]
fn process_cpu() -> Option<(f64, f64)> {
    None
}

#[derive(Debug, Serialize)]
pub struct DnsCounts {
    pub queries: u64,
    pub udp_sent: u64,
    pub retries: u64,
    pub attempt_timeouts: u64,
    /// Attempt timeouts in zones that had just timed out (slow zones: not counted as congestion).
    pub slow_zone_timeouts: u64,
    /// Queries of a zone where a query ran out of attempts lately (second pass included), asked
    /// with one patient attempt and no second pass.
    pub slow_zone_queries: u64,
    /// Queries asked once more after all their attempts timed out, and how many got an answer.
    pub second_pass: u64,
    pub second_pass_answered: u64,
    pub tcp_fallbacks: u64,
    pub dropped_datagrams: u64,
    /// Datagrams the system refused to send (their attempts timed out).
    pub send_errors: u64,
    /// Datagrams per system call (`sendmmsg`, `recvmmsg`): how much the batching saved.
    pub datagrams_per_send_call: f64,
    pub datagrams_per_recv_call: f64,
    /// The in-flight window at the end (adaptive: what the resolvers took without loss).
    pub window_final: usize,
    pub by_status: BTreeMap<&'static str, u64>,
    /// Attempts that timed out while their resolver was down: not counted against their
    /// queries, which were asked again once a resolver answered.
    pub excused_attempts: u64,
    /// Attempt timeouts counted as losses whose attempt was answered after all.
    pub spurious_timeouts: u64,
    /// Queries sent to find out whether a silent resolver is alive.
    pub probes: u64,
    /// Each resolver: its state at the time of writing and its times out of the rotation.
    pub resolvers: Vec<crate::dns::health::ResolverReport>,
    /// Times no resolver answered: start, end, seconds, the most queries held at once.
    pub outages: Vec<crate::dns::health::Outage>,
    /// Seconds spent in outages.
    pub outage_s: f64,
}

#[derive(Debug, Serialize)]
pub struct CacheCounts {
    pub lookups: u64,
    pub misses: u64,
    pub expired: u64,
    pub hit_rate: f64,
    pub entries: usize,
    /// The bound, `--cache-memory`.
    pub memory_bytes: u64,
    /// Estimated bytes held at the end.
    pub weight_bytes: u64,
}

impl RunManifest {
    pub(crate) fn build(m: ManifestInput<'_>) -> RunManifest {
        let ManifestInput {
            opts,
            started,
            elapsed,
            state,
            interrupted,
            signal,
            stats,
            input_error,
            error,
            resolver,
            tables,
            stages,
            resumes,
        } = m;
        // Read once: the rate, the CPU per query and the count agree even in a checkpoint's
        // manifest, written while queries are still being asked.
        let queries = resolver.engine().stats().queries.load(Relaxed);
        let secs = elapsed.as_secs_f64().max(1e-9);
        let fmt = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let counts = Counts::of(opts, stats, &tables, &stages);
        RunManifest {
            tool: "mxray",
            version: env!("CARGO_PKG_VERSION"),
            command_line: opts.command_line.clone(),
            input: opts.targets.input().to_string(),
            input_bytes: stats.input.get().map(|f| f.bytes),
            input_sha256: stats.input.get().map(|f| f.sha256.clone()),
            started_at: fmt(started),
            ended_at: fmt(chrono::Utc::now()),
            duration_s: elapsed.as_secs_f64(),
            state,
            interrupted,
            signal: signal.clone().filter(|s| s.starts_with("SIG")),
            reason: signal,
            input_error,
            error,
            resolvers: opts.engine.servers.iter().map(|s| s.to_string()).collect(),
            options: ManifestOptions::of(opts),
            status_counts: {
                let mut counts_by_status = stats.by_status();
                if counts.recipients_written.is_some() {
                    counts_by_status.insert("recipient_status", stats.recipients.by_status());
                }
                counts_by_status
            },
            counts,
            rates: Rates {
                targets_per_s: stats.done.load(Relaxed) as f64 / secs,
                queries_per_s: queries as f64 / secs,
            },
            cpu: CpuUse::now(queries),
            dns: DnsCounts::of(resolver, queries),
            cache: CacheCounts::of(opts, resolver),
            shard: opts.shard.to_string(),
            seed: opts.seed,
            targets: opts.targets.kind(),
            dnsbl_zones: opts.hosts.dnsbl.iter().map(|z| z.zone.clone()).collect(),
            stages,
            last_pass: LastPassReport {
                domains: stats.last_pass_domains.counts(),
                hosts: stats.last_pass_hosts.counts(),
            },
            smtp: opts.smtp.as_ref().map(smtp_manifest),
            rpki: opts.hosts.rpki.as_deref().map(rpki_manifest),
            resumes: resumes.to_vec(),
        }
    }
}

impl ManifestOptions {
    fn of(opts: &ScanOptions) -> ManifestOptions {
        ManifestOptions {
            timeout_ms: opts.engine.timeout.as_millis() as u64,
            retries: opts.engine.retries,
            concurrency: opts.engine.concurrency,
            domain_concurrency: opts.domain_concurrency,
            host_concurrency: opts.host_concurrency,
            host_checks: opts.host_checks,
            rate: opts.engine.rate.map(|r| r.get()),
            rate_per_resolver: opts.engine.rate_per_server.map(|r| r.get()),
            edns_payload: opts.engine.edns_payload,
            dnssec_ok: opts.engine.dnssec_ok,
            dmarc_discovery: opts.policies.dmarc_discovery.as_str(),
            psl: if opts.policies.psl.is_some() {
                "file"
            } else {
                "built-in"
            },
            dkim_plan: match (opts.policies.dkim, &opts.policies.dkim_selectors) {
                (false, _) => "off",
                (true, None) => "providers",
                (true, Some(_)) => "list",
            },
            dkim_selectors: match (opts.policies.dkim, &opts.policies.dkim_selectors) {
                (false, _) => 0,
                (true, None) => crate::checks::dkim::COMMON_SELECTORS.len(),
                (true, Some(list)) => list.len(),
            },
            mta_sts_fetch: opts.policies.mta_sts_fetch.is_some(),
            worker_threads: tokio::runtime::Handle::try_current().map_or(0, |h| {
                match h.runtime_flavor() {
                    tokio::runtime::RuntimeFlavor::MultiThread => h.metrics().num_workers(),
                    _ => 1,
                }
            }),
        }
    }
}

impl Counts {
    fn of(
        opts: &ScanOptions,
        stats: &ScanStats,
        tables: &[(&'static str, WriterStats)],
        stages: &[StageReport],
    ) -> Counts {
        let written = |name: &str| {
            tables
                .iter()
                .find(|(t, _)| *t == name)
                .map(|(_, w)| w.clone())
        };
        let recipients_written = written(RecipientRow::NAME);
        let sum = |f: fn(&StageReport) -> u64| stages.iter().map(f).sum::<u64>();
        let address_scan = matches!(opts.targets, Targets::Ips(_));
        Counts {
            domains_read: stats.read.load(Relaxed),
            // `done` counts targets: hosts in an address scan.
            domains_scanned: if address_scan {
                0
            } else {
                stats.done.load(Relaxed)
            },
            rejects: stats.rejects.load(Relaxed),
            duplicates: stats.duplicates.load(Relaxed),
            dedup_overflow: stats.dedup_overflow.load(Relaxed),
            other_shards: stats.other_shards.load(Relaxed),
            resumed_skipped: stats.resumed_skipped.load(Relaxed),
            resumed_orphan_hosts: stats.resumed_orphans.load(Relaxed),
            excluded: stats.excluded.load(Relaxed),
            abandoned: sum(|s| s.abandoned),
            unstarted: sum(|s| s.unstarted),
            panicked: sum(|s| s.panicked),
            hosts: stats.hosts.load(Relaxed),
            hosts_dedup_overflow: stats.dedup.get().map(|d| d.overflow()).unwrap_or(0),
            dkim_probes_saved: stats.policies.dkim_probes_saved.load(Relaxed),
            dkim_probes_sent: stats.policies.dkim_probes_sent.load(Relaxed),
            dkim_probes_planned: stats.policies.dkim_probes.load(Relaxed),
            domains_written: written(DomainRow::NAME).unwrap_or_default(),
            hosts_written: written(HostRow::NAME).unwrap_or_default(),
            recipients_written: recipients_written.clone(),
            recipient_batches: recipients_written.is_some().then(|| RecipientBatches {
                queued: stats.recipients.queued.load(Relaxed),
                sessions: stats.recipients.sessions.load(Relaxed),
                over_budget: stats.recipients.over_budget.load(Relaxed),
            }),
        }
    }
}

impl DnsCounts {
    fn of(resolver: &Resolver, queries: u64) -> DnsCounts {
        let e = resolver.engine().stats();
        let now = std::time::Instant::now();
        let health = resolver.engine().health();
        let outages = health.map(|h| h.outages(now)).unwrap_or_default();
        DnsCounts {
            queries,
            udp_sent: e.udp_sent.load(Relaxed),
            retries: e.retries.load(Relaxed),
            attempt_timeouts: e.attempt_timeouts.load(Relaxed),
            slow_zone_timeouts: e.slow_zone_timeouts.load(Relaxed),
            slow_zone_queries: e.slow_zone_queries.load(Relaxed),
            second_pass: e.second_pass.load(Relaxed),
            second_pass_answered: e.second_pass_answered.load(Relaxed),
            tcp_fallbacks: e.tcp_fallbacks.load(Relaxed),
            dropped_datagrams: e.dropped.load(Relaxed),
            send_errors: e.send_errors.load(Relaxed),
            datagrams_per_send_call: e.udp_sent.load(Relaxed) as f64
                / e.send_calls.load(Relaxed).max(1) as f64,
            datagrams_per_recv_call: e.udp_received.load(Relaxed) as f64
                / e.recv_calls.load(Relaxed).max(1) as f64,
            window_final: resolver.engine().window(),
            excused_attempts: e.excused_attempts.load(Relaxed),
            spurious_timeouts: e.spurious_timeouts.load(Relaxed),
            probes: e.probes.load(Relaxed),
            resolvers: health.map(|h| h.report(now)).unwrap_or_default(),
            // Summed from 0.0: a float sum of nothing is -0.0.
            outage_s: outages.iter().fold(0.0, |s, o| s + o.span.seconds),
            outages,
            by_status: Status::ALL
                .iter()
                .map(|s| (s.as_str(), e.status_count(*s)))
                .collect(),
        }
    }
}

impl CacheCounts {
    fn of(opts: &ScanOptions, resolver: &Resolver) -> CacheCounts {
        let c = resolver.stats();
        CacheCounts {
            lookups: c.lookups.load(Relaxed),
            misses: c.misses.load(Relaxed),
            expired: c.expired.load(Relaxed),
            hit_rate: c.hit_rate(),
            entries: resolver.len(),
            memory_bytes: opts.cache.memory,
            weight_bytes: resolver.weight(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_query_is_the_process_cpu_over_the_queries() {
        let cases = [
            (1.5, 0.5, 1_000_000, Some(2.0)),
            (0.0, 0.25, 1_000, Some(250.0)),
            (3.0, 1.0, 0, None),
        ];
        for (user, system, queries, want) in cases {
            let c = CpuUse::of(user, system, queries);
            assert_eq!((c.user_s, c.system_s), (user, system));
            match (c.per_query_us, want) {
                (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{got} != {want}"),
                (got, want) => assert_eq!(got, want),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_process_cpu_grows_with_work() {
        let total = |c: &CpuUse| c.user_s + c.system_s;
        let before = CpuUse::now(1).expect("getrusage works here");
        // Arithmetic the optimiser cannot drop, until the reading has grown by 20 ms; bounded in
        // wall time rather than sized by it, so that a busy machine (tests share the cores) slows
        // the test down without failing it.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = CpuUse::now(1).expect("getrusage works here");
        while total(&after) - total(&before) < 0.02 && t.elapsed() < Duration::from_secs(30) {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            after = CpuUse::now(1).expect("getrusage works here");
        }
        let spent = total(&after) - total(&before);
        assert!(spent >= 0.02, "{spent} s of CPU after 30 s of work ({x})");
    }
}
