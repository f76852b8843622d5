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

pub mod check;
pub mod dangling;
pub mod domain;
pub mod host;
pub mod last_pass;
mod outputs;
pub mod policies;
pub mod progress;
pub mod recipient_rows;
pub mod recipients;
pub mod resume;
mod scan;
pub mod sink;
pub mod smtp;
mod source;
pub mod spf_dns;
pub mod stage;
pub mod stats;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::dns::{CacheOptions, EngineOptions};
use crate::output::WriterOptions;
use crate::targets::ReaderOptions;
use crate::targets::ips::DEFAULT_MAX_V6;
use crate::targets::shard::Shard;
use host::HostOptions;
pub use policies::PolicyOptions;
pub use progress::ProgressMode;
pub use resume::{Resume, ResumeError};
pub use sink::AddressDedup;
use stage::Probe;
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
    /// How long the scan waits while no resolver answers (an outage: the queries in flight are
    /// held, no new target starts) before it stops as on SIGTERM, with whole files and run.json
    /// `state: interrupted`, `reason: resolvers-unreachable`, so `--resume` goes on later.
    /// Default 5 minutes.
    pub resolver_outage_limit: Duration,
    /// The last pass of the domain and host stages (see [`last_pass`]).
    pub last_pass: last_pass::LastPassOptions,
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
            resolver_outage_limit: Duration::from_secs(300),
            last_pass: last_pass::LastPassOptions::default(),
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
    IpList(#[from] crate::targets::ips::IpListError),
    #[error("--ips: {0:?} holds no address")]
    NoAddress(String),
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
    #[error("MTA-STS policy fetcher: {0}")]
    Policy(#[from] crate::https::FetcherError),
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

/// How a scan is told to stop: a cancellation token, and why it was cancelled (the signal's
/// name, recorded in run.json). A bare `CancellationToken` converts into one.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<std::sync::OnceLock<String>>,
}

/// The reason a scan stops when no resolver answered for `--resolver-outage-limit`.
pub const RESOLVERS_UNREACHABLE: &str = "resolvers-unreachable";

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
/// they are; a test wraps every stage's probe (domains, hosts, SMTP, recipients) through the
/// same interface (a delay, an injected panic) without any test branch in the scan itself.
pub trait ProbeLayer: Send + Sync + 'static {
    fn layer<P: Probe>(&self, probe: P) -> impl Probe<Target = P::Target, Output = P::Output>;
}

/// The probes as built.
pub struct Probes;

impl ProbeLayer for Probes {
    fn layer<P: Probe>(&self, probe: P) -> impl Probe<Target = P::Target, Output = P::Output> {
        probe
    }
}

/// [`scan`] with the probes passed through `layer`.
pub async fn scan_with<L: ProbeLayer>(
    opts: ScanOptions,
    stop: impl Into<Stop>,
    layer: L,
) -> Result<RunManifest, ScanError> {
    scan::run(opts, stop.into(), layer).await
}
