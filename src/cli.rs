//! The command line: what the user typed (clap derive), turned into ready-to-use scan options.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use mxray::check::render::TextStyle;
use mxray::checks::dkim;
use mxray::checks::dmarc::{DiscoveryMode, SuffixList};

use mxray::checks::asn::AsnDb;
use mxray::checks::dnsbl;
use mxray::dns::{CacheOptions, EngineOptions};
use mxray::https::FetchOptions;
use mxray::output::{Formats, WriterOptions};
use mxray::pipeline::host::{AsnDnsZones, HostOptions};
use mxray::pipeline::smtp::{SmtpOptions, SmtpPort};
use mxray::pipeline::{PolicyOptions, ProgressMode, ScanOptions, Targets};
use mxray::rpki::VrpFile;
use mxray::smtp::command::Arg;
use mxray::smtp::conn::Deadlines;
use mxray::smtp::legacy::LegacyProbe;
use mxray::smtp::session::{DEFAULT_HELO, SessionOptions};
use mxray::targets::ReaderOptions;
use mxray::targets::exclude::ExcludeList;
use mxray::targets::ips::DEFAULT_MAX_V6;
use mxray::targets::shard::Shard;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Measure how mail servers are set up, at scale: MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI and
/// SOA of many domains, streamed
/// through a fast DNS engine with a shared cache into Parquet.
#[derive(Debug, Parser)]
#[command(name = "mxray", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a list of domains (--domains) or address ranges (--ips).
    Scan(Box<ScanArgs>),
    /// Write report.md, report.html and report.json (figures, charts, bulk-sender readiness)
    /// from the Parquet parts of one or more scan output directories (the shards of one scan
    /// merge into one report; a scan still running is read as far as it got).
    Report(ReportArgs),
    /// Serve a generated world of mail domains on loopback (DNS, DNSBL, reverse zone, SMTP
    /// listeners) until Ctrl-C, and print the scan command for it. No root, no network.
    Lab(LabArgs),
    /// Start the lab, scan it with every check on, print the headline figures, stop the lab.
    Demo(DemoArgs),
    /// Check one mail domain (or one mail server's address) with every check of `scan` and
    /// print the checklist: a mark per item, the finding, the fix for what fails.
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(Box<CheckArgs>),
}

/// `mxray check --help`'s closing section.
pub const CHECK_EXIT_CODES: &str = "Exit codes:
  0  nothing failed (warnings and items that could not be told do not count)
  1  at least one item failed, for any target
  2  usage or setup error (an unreadable option file, no resolver, a target that is no
     domain or address)";

/// `mxray check` arguments: the targets and how to print them, and the options of `scan` that
/// matter for one target. Everything else, and every default not given here, is the scan's own
/// ([`CheckArgs::scan_args`]), so the probes are configured as a scan configures them.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Domains (their MX hosts are checked too) or addresses of mail servers.
    #[arg(value_name = "DOMAIN|IP", required = true)]
    pub targets: Vec<String>,

    /// One JSON document per target, one per line, instead of text: the checklist, and the
    /// domains, hosts and recipients rows under the column names of `scan`.
    #[arg(help_heading = "Output", long)]
    pub json: bool,

    /// Colour and symbols: `auto` (when stdout is a terminal and NO_COLOR is unset or empty),
    /// `always`, `never`.
    #[arg(help_heading = "Output", long, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Recursive resolver, IP or IP:PORT (repeatable). Default: the system's (/etc/resolv.conf).
    #[arg(help_heading = "DNS", long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,

    /// Time to wait for one DNS answer (as `scan --timeout`).
    #[arg(help_heading = "DNS", long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Allow loopback addresses (127.0.0.0/8, ::1): the lab, local experiments.
    #[arg(help_heading = "Targets", long)]
    pub allow_loopback: bool,

    /// DNSBL zones from the zone table, comma-separated, or `all`. Default: all of the table
    /// (datasets/dnsbl-zones.csv, or --dnsbl-config). Public lists answer queries through public
    /// resolvers with an error code, shown as such.
    #[arg(help_heading = "Checks", long, value_name = "ZONES")]
    pub dnsbl: Option<String>,

    /// No DNSBL query.
    #[arg(help_heading = "Checks", long, conflicts_with = "dnsbl")]
    pub no_dnsbl: bool,

    /// Zone table instead of the shipped one (as `scan --dnsbl-config`).
    #[arg(help_heading = "Checks", long, value_name = "FILE")]
    pub dnsbl_config: Option<PathBuf>,

    /// IP-to-AS table (as `scan --asn-db`); addresses it does not know are asked over DNS.
    #[arg(help_heading = "Checks", long, value_name = "FILE")]
    pub asn_db: Option<PathBuf>,

    /// Do not ask Team Cymru's IP-to-ASN service over DNS.
    #[arg(help_heading = "Checks", long)]
    pub no_asn_dns: bool,

    /// RPKI route origin validation of each address's route and origin AS (as `scan
    /// --rpki-vrps`): a VRP export of Routinator, rpki-client or Fort, JSON or CSV.
    #[arg(help_heading = "Checks", long, value_name = "FILE")]
    pub rpki_vrps: Option<PathBuf>,

    /// DKIM selectors to probe: a file, one per line, or `full` (as `scan --dkim-selectors`).
    #[arg(help_heading = "Checks", long, value_name = "FILE|full")]
    pub dkim_selectors: Option<PathBuf>,

    /// Make no SMTP connection (where outbound port 25 is blocked): no open-relay, recipient,
    /// STARTTLS or certificate check.
    #[arg(help_heading = "SMTP", long)]
    pub no_smtp: bool,

    /// SMTP ports (as `scan --smtp-ports`). Default: 25.
    #[arg(
        help_heading = "SMTP",
        long,
        alias = "smtp-port",
        value_delimiter = ',',
        value_name = "PORT[/tls],..."
    )]
    pub smtp_ports: Vec<SmtpPort>,

    /// The name sent in EHLO (as `scan --helo`).
    #[arg(help_heading = "SMTP", long, value_name = "NAME")]
    pub helo: Option<String>,

    /// Recipient domain of the relay tests (as `scan --relay-domain`).
    #[arg(help_heading = "SMTP", long, value_name = "DOMAIN")]
    pub relay_domain: Option<String>,

    /// PEM file of CA certificates trusted besides Mozilla's roots (as `scan --smtp-ca`).
    #[arg(help_heading = "SMTP", long, value_name = "FILE")]
    pub smtp_ca: Option<PathBuf>,

    /// Time to connect (as `scan --smtp-connect-timeout`).
    #[arg(help_heading = "SMTP", long, value_parser = parse_duration)]
    pub smtp_connect_timeout: Option<Duration>,

    /// Time for one reply (as `scan --smtp-reply-timeout`).
    #[arg(help_heading = "SMTP", long, value_parser = parse_duration)]
    pub smtp_reply_timeout: Option<Duration>,

    /// Time for a whole session: a tarpit is cut there (as `scan --smtp-session-timeout`).
    #[arg(help_heading = "SMTP", long, value_parser = parse_duration)]
    pub smtp_session_timeout: Option<Duration>,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl CheckArgs {
    /// The `scan` arguments of a check: the scan's defaults, every check on (SMTP with the
    /// recipient tests, the MTA-STS policy fetch, every DNSBL zone, ASN over DNS), and what
    /// was given here.
    pub fn scan_args(&self) -> ScanArgs {
        // The scan's defaults, from the scan's own parser: the two arguments it requires are
        // never used by a check (it reads no input and writes no directory).
        let line = ["mxray", "scan", "--domains", "-", "--out", "."];
        let Ok(Cli {
            command: Command::Scan(mut s),
        }) = Cli::try_parse_from(line)
        else {
            unreachable!("a minimal scan command line parses")
        };
        s.quiet = true;
        s.resolvers = self.resolvers.clone();
        if let Some(t) = self.timeout {
            s.timeout = t;
        }
        s.allow_loopback = self.allow_loopback;
        s.dnsbl = match (&self.dnsbl, self.no_dnsbl) {
            (_, true) => Some(String::new()),
            (Some(z), false) => Some(z.clone()),
            (None, false) => Some("all".into()),
        };
        s.dnsbl_config = self.dnsbl_config.clone();
        s.asn_db = self.asn_db.clone();
        s.asn_dns = !self.no_asn_dns;
        s.rpki_vrps = self.rpki_vrps.clone();
        s.dkim_selectors = self.dkim_selectors.clone();
        s.mta_sts_fetch = true;
        s.smtp = !self.no_smtp;
        s.smtp_recipients = !self.no_smtp;
        if !self.smtp_ports.is_empty() {
            s.smtp_ports = self.smtp_ports.clone();
        }
        if let Some(h) = &self.helo {
            s.helo = h.clone();
        }
        s.relay_domain = self.relay_domain.clone();
        s.smtp_ca = self.smtp_ca.clone();
        for (given, field) in [
            (self.smtp_connect_timeout, &mut s.smtp_connect_timeout),
            (self.smtp_reply_timeout, &mut s.smtp_reply_timeout),
            (self.smtp_session_timeout, &mut s.smtp_session_timeout),
        ] {
            if let Some(t) = given {
                *field = t;
            }
        }
        *s
    }

    /// The targets, each an address or a normalised domain.
    pub fn targets(&self) -> anyhow::Result<Vec<mxray::check::CheckTarget>> {
        self.targets
            .iter()
            .map(|t| mxray::check::CheckTarget::parse(t).map_err(|e| anyhow::anyhow!("{e}")))
            .collect()
    }

    /// Colour when asked, or by default when stdout is a terminal and `NO_COLOR` is unset or
    /// empty (no-color.org).
    pub fn text_style(&self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> TextStyle {
        let color = match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        };
        TextStyle { color }
    }
}

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Domains in the generated world.
    #[arg(help_heading = "World", long, default_value_t = 2000, value_name = "N")]
    pub domains: usize,

    /// Seed of the world: the same seed gives the same world and the same truth files.
    #[arg(help_heading = "World", long, default_value_t = 1)]
    pub seed: u64,

    /// Where the domain list, the ground truth (truth.csv, truth-hosts.csv), the lab CA and
    /// the scan's side files are written.
    #[arg(
        help_heading = "World",
        long,
        default_value = "lab",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// The DNS server's address (loopback only), which is also the scan's --resolver.
    #[arg(
        help_heading = "Listeners",
        long,
        default_value = "127.0.0.1:5380",
        value_name = "IP:PORT"
    )]
    pub dns: SocketAddr,

    /// The port of every SMTP listener (each on its own 127.77.x.1).
    #[arg(
        help_heading = "Listeners",
        long,
        default_value_t = 2525,
        value_name = "PORT"
    )]
    pub smtp_port: u16,
}

impl LabArgs {
    pub fn options(&self) -> mxray::lab::LabOptions {
        mxray::lab::LabOptions {
            domains: self.domains,
            seed: self.seed,
            dir: self.dir.clone(),
            dns: self.dns,
            smtp_port: self.smtp_port,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Domains in the generated world.
    #[arg(help_heading = "World", long, default_value_t = 2000, value_name = "N")]
    pub domains: usize,

    /// Seed of the world.
    #[arg(help_heading = "World", long, default_value_t = 1)]
    pub seed: u64,

    /// Output directory of the scan (the lab's files go to OUT/lab; an earlier demo there is
    /// replaced).
    #[arg(
        help_heading = "Output",
        long,
        default_value = "demo-results",
        value_name = "DIR"
    )]
    pub out: PathBuf,
}

impl DemoArgs {
    pub fn options(&self) -> mxray::lab::demo::DemoOptions {
        mxray::lab::demo::DemoOptions {
            lab: mxray::lab::LabOptions {
                domains: self.domains,
                seed: self.seed,
                ..Default::default()
            },
            out: self.out.clone(),
        }
    }
}

/// `mxray scan` arguments (without the program name) as scan options, through the same parser
/// as the command line.
pub fn scan_options_from(args: Vec<String>) -> Result<ScanOptions, String> {
    let line: Vec<String> = std::iter::once("mxray".to_string()).chain(args).collect();
    match Cli::try_parse_from(&line)
        .map_err(|e| e.to_string())?
        .command
    {
        Command::Scan(scan) => scan.into_options(line).map_err(|e| format!("{e:#}")),
        _ => Err("not a scan command".into()),
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output directories of `mxray scan` (each with domains/ and hosts/ parts).
    #[arg(help_heading = "Input", value_name = "OUT", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Where report.md, report.html, report.json, readiness/ and readiness.csv go. Default: the
    /// first OUT directory.
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Length of the top lists (include providers, selectors, MX operators, ASes).
    #[arg(help_heading = "Figures", long, default_value_t = 15, value_name = "N")]
    pub top: usize,

    /// Addresses an AS needs for the "top ASes by listing share" list.
    #[arg(help_heading = "Figures", long, default_value_t = 10, value_name = "N")]
    pub min_as_hosts: u64,
}

impl ReportArgs {
    pub fn into_options(self) -> mxray::report::ReportOptions {
        let mut o = mxray::report::ReportOptions::new(self.inputs);
        if let Some(out) = self.out {
            o.out = out;
        }
        o.top = self.top;
        o.min_as_hosts = self.min_as_hosts;
        o
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).args(["domains", "ips"])))]
pub struct ScanArgs {
    /// Domains to scan: one per line (`#` comments), CSV with a `domain` column, or Tranco
    /// `rank,domain`; `.gz` is decompressed; `-` reads stdin.
    #[arg(help_heading = "Targets", long, value_name = "FILE")]
    pub domains: Option<String>,

    /// Addresses to scan instead of domains: a file, or an inline comma-separated list, of IPv4
    /// and IPv6 addresses, CIDR blocks and `a-b` ranges. Expanded lazily, in a pseudo-random
    /// order fixed by --seed (consecutive probes do not hit one /24).
    #[arg(help_heading = "Targets", long, value_name = "SPEC")]
    pub ips: Option<String>,

    /// Seed of the address order. Every shard of one scan must use the same seed.
    #[arg(help_heading = "Targets", long, default_value_t = 0)]
    pub seed: u64,

    /// Scan only part I of N (0-based) of the input; N machines with the same input, seed and N
    /// scan disjoint parts whose union is the whole. E.g. `--shard "$JOB_COMPLETION_INDEX/8"` in a
    /// Kubernetes Indexed Job, `--shard "$SLURM_ARRAY_TASK_ID/8"` in a Slurm array.
    #[arg(
        help_heading = "Targets",
        long,
        default_value = "0/1",
        value_name = "I/N"
    )]
    pub shard: Shard,

    /// Largest IPv6 range accepted per spec, in addresses (a /64 would never finish).
    #[arg(help_heading = "Targets", long, default_value_t = DEFAULT_MAX_V6 as u64, value_name = "N")]
    pub max_ipv6_range: u64,

    /// Never-scan list (CIDRs, addresses, ranges, domains; `#` comments), added to the built-in
    /// RFC 6890 special-purpose blocks. Repeatable. Excluded MX addresses keep a hosts row with
    /// host_status `skipped`; excluded range addresses are dropped and counted in run.json.
    #[arg(help_heading = "Targets", long = "exclude", value_name = "FILE")]
    pub excludes: Vec<PathBuf>,

    /// Replace the built-in never-scan list by the --exclude files (loopback stays excluded
    /// unless --allow-loopback).
    #[arg(help_heading = "Targets", long)]
    pub no_default_excludes: bool,

    /// Allow 127.0.0.0/8 and ::1 (tests and local experiments).
    #[arg(help_heading = "Targets", long)]
    pub allow_loopback: bool,

    /// DNSBL zones to query for every address: comma-separated zone names from the zone table
    /// (datasets/dnsbl-zones.csv, or --dnsbl-config), or `all`. Default: none. Public lists refuse
    /// bulk queries through public resolvers; each zone has its own polite rate.
    #[arg(help_heading = "Host stage", long, value_name = "ZONES")]
    pub dnsbl: Option<String>,

    /// Zone table to use instead of the shipped one (CSV: zone,kind,listing_codes,error_codes,
    /// rate_qps,description,reference).
    #[arg(help_heading = "Host stage", long, value_name = "FILE")]
    pub dnsbl_config: Option<PathBuf>,

    /// IP-to-AS table in the common TSV form (range start, range end, AS number, country, name;
    /// e.g. iptoasn's ip2asn-combined.tsv, optionally .gz) for the asn columns.
    #[arg(help_heading = "Host stage", long, value_name = "FILE")]
    pub asn_db: Option<PathBuf>,

    /// Origin AS over DNS from Team Cymru's IP-to-ASN service (origin.asn.cymru.com,
    /// origin6.asn.cymru.com, names from asn.cymru.com) for addresses --asn-db does not know;
    /// answers are cached per announced prefix.
    #[arg(help_heading = "Host stage", long)]
    pub asn_dns: bool,

    /// The zones of another service of that form: V4ZONE,V6ZONE[,ASNAMEZONE] (implies --asn-dns).
    #[arg(help_heading = "Host stage", long, value_name = "ZONES")]
    pub asn_dns_zones: Option<String>,

    /// RPKI route origin validation (RFC 6811) of each address's route and origin AS (from
    /// --asn-db or --asn-dns) into rpki_status: valid, invalid or not-found. FILE is the VRP set
    /// as Routinator, rpki-client or Fort export it: their JSON ({"roas": [...]}) or CSV (with
    /// the header line, e.g. `ASN,IP Prefix,Max Length,Trust Anchor`). Read whole before any
    /// query; a malformed entry stops the scan naming its line. run.json records the file's
    /// SHA-256 and VRP count.
    #[arg(help_heading = "Host stage", long, value_name = "FILE")]
    pub rpki_vrps: Option<PathBuf>,

    /// Output directory: domains/ and hosts/ Parquet parts, run.json, rejects.csv.
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace an earlier scan's results in --out.
    #[arg(help_heading = "Output", long)]
    pub overwrite: bool,

    /// Go on with the scan in --out that was killed or stopped: give the same input, --shard and
    /// --seed (refused otherwise). The input file itself must be unchanged: run.json records its
    /// size and SHA-256 when the scan starts, and a file that differs is refused. Not with stdin
    /// (`--domains -`) or a pipe, which can be read only once: refused at the start, save the
    /// list to a file instead. Targets whose rows are in its Parquet parts are skipped, MX
    /// addresses in flight when it stopped are checked, new parts continue the numbering, and
    /// run.json lists every resume. Needs the Parquet format; with CSV too, domains.csv is
    /// appended to (a row whose part was written just before a SIGKILL may be in the Parquet
    /// parts only: they are the record).
    #[arg(help_heading = "Output", long, conflicts_with = "overwrite")]
    pub resume: bool,

    /// Output formats: `parquet`, `csv` or `parquet,csv` (CSV lists are joined with `;`).
    #[arg(
        help_heading = "Output",
        long,
        default_value = "parquet",
        value_name = "LIST"
    )]
    pub format: String,

    /// Recursive resolver to ask, IP or IP:PORT (repeatable; asked in rotation). Default: the
    /// system's resolvers (/etc/resolv.conf). One that stops answering names of many zones (and
    /// then a probe) leaves the rotation until it answers again; its queries go to the others.
    #[arg(help_heading = "DNS", long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,

    /// How long to wait while no resolver answers (queries in flight are held and asked again
    /// once one does; no new target starts) before stopping as on SIGTERM: whole files, run.json
    /// `state: interrupted`, `reason: resolvers-unreachable`; `--resume` goes on later.
    #[arg(help_heading = "DNS", long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub resolver_outage_limit: Duration,

    /// Most targets per stage (domains, hosts) held for the last pass: a row that would say
    /// `timeout`, `servfail` or `temperror` in any column is not written at once; its target is probed again
    /// at the end of the stage, and only that row is written. 0 turns the last pass off (and the
    /// DNS engine's own second pass on: each timed-out query asked twice more, seconds later). At
    /// most 16 MiB of targets are held per stage whatever this says.
    #[arg(
        help_heading = "DNS",
        long,
        default_value_t = 100_000,
        value_name = "N"
    )]
    pub last_pass_max: usize,

    /// Probes of the last pass at once, per stage.
    #[arg(help_heading = "DNS", long, default_value_t = 64, value_name = "N")]
    pub last_pass_concurrency: usize,

    /// Global cap on DNS queries per second. Default: no cap (the in-flight window bounds load).
    #[arg(help_heading = "DNS", long, value_name = "QPS")]
    pub rate: Option<NonZeroU32>,

    /// Cap on DNS queries per second to each resolver.
    #[arg(help_heading = "DNS", long, value_name = "QPS")]
    pub rate_per_resolver: Option<NonZeroU32>,

    /// Most DNS queries in flight at once (the adaptive window's ceiling). Queries that timed out
    /// once, and those of zones that do not answer, wait outside the window: a quarter as many
    /// more, at least 64. Asking an authoritative server directly, 200 keeps within the default
    /// receive buffer of a Knot or NSD (about 190 queries), which the window overflows in bursts.
    #[arg(help_heading = "DNS", long, default_value_t = 2000)]
    pub concurrency: usize,

    /// Keep the DNS window fixed at --concurrency instead of sizing it to what the resolvers answer
    /// without loss (start at 64, grow while answers come, a quarter less when many names time
    /// out at once or answers queue).
    #[arg(help_heading = "DNS", long)]
    pub fixed_window: bool,

    /// Worker threads of the scan's runtime (DNS, SMTP and the checks). Default: one per CPU
    /// core, less one when every resolver is on this machine (a loopback address): a local
    /// Unbound or Knot Resolver works on one thread by default, and the scan leaves it that core.
    /// On two cores, one thread measured faster than two beside a local server, with less CPU
    /// (benches/HISTORY.md, "One worker thread beside a local resolver").
    #[arg(help_heading = "DNS", long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Most domains in flight at once (the domain stage: MX, SPF, policies). Fewer while DNS
    /// queries queue for the window (a quarter of it, at least 64): the resolvers are the limit
    /// then, and a new domain would only wait beside them (run.json: stages[].admission_wait_s).
    #[arg(help_heading = "Domain stage", long, default_value_t = 1000)]
    pub domain_concurrency: usize,

    /// Most addresses in flight at once (the host stage: PTR, FCrDNS, DNSBL, ASN), apart from the
    /// domains: a slow host never holds a domain's place. Fewer while DNS queries queue for the
    /// window (a quarter of it, at least 64; run.json: stages[].admission_wait_s).
    #[arg(help_heading = "Host stage", long, default_value_t = 1000)]
    pub host_concurrency: usize,

    /// Domain scans only: do not check the MX addresses (no PTR, FCrDNS, DNSBL, ASN; the hosts
    /// table stays empty, mx_ips is still filled).
    #[arg(help_heading = "Host stage", long, conflicts_with = "ips")]
    pub no_hosts: bool,

    /// Time to wait for one DNS answer: `2s`, `500ms`, or seconds.
    #[arg(help_heading = "DNS", long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Further attempts after a DNS timeout, each on the next resolver.
    #[arg(help_heading = "DNS", long, default_value_t = 2)]
    pub retries: u32,

    /// UDP sockets shared by all DNS queries (each on a random source port; a query goes out on
    /// the one with the fewest in flight). A resolver with several threads behind one port
    /// (SO_REUSEPORT, as Unbound and Knot Resolver run) gives each source port to one thread: with
    /// two threads, four sockets all land on one of them one time in eight, eight sockets one time
    /// in 128, and a busier thread's sockets get fewer queries.
    #[arg(help_heading = "DNS", long, default_value_t = 8)]
    pub sockets: usize,

    /// Memory of the shared DNS cache, estimated bytes of its entries: `128M`, `1G`, or bytes.
    /// The default keeps the whole process under about 300 MB whatever the input size.
    #[arg(help_heading = "DNS", long, default_value = "64M", value_parser = parse_bytes)]
    pub cache_memory: u64,

    /// Seconds between flushes of buffered rows to the output files (each flush is a whole
    /// Parquet part; runs of small parts are merged into parts of up to 10,000 rows when the
    /// scan ends).
    #[arg(help_heading = "Output", long, default_value = "5s", value_parser = parse_duration)]
    pub flush_interval: Duration,

    /// Only select and parse SPF records; do not walk includes and redirects (one TXT query per
    /// domain instead of the tree; the spf_lookups, spf_all and address columns stay null).
    #[arg(help_heading = "Domain stage", long)]
    pub no_spf_walk: bool,

    /// Ask every policy query of a domain even when its MX query timed out. By default such a
    /// domain's other columns say temperror ("not asked") without their ~10 queries: its name
    /// servers do not answer, and each question would sit in the resolver's request list for
    /// seconds, crowding out the domains that do answer.
    #[arg(help_heading = "Domain stage", long)]
    pub ask_after_mx_timeout: bool,

    /// Also query RR type 99 (SPF), obsolete since RFC 7208, and flag domains that still publish
    /// it (`spf_type99` in spf_flags). One more query per domain.
    #[arg(help_heading = "Domain stage", long)]
    pub spf_type99: bool,

    /// No progress output.
    #[arg(help_heading = "Output", long, short)]
    pub quiet: bool,

    /// Public Suffix List file (publicsuffix.org format) for DMARC's Organizational Domain.
    /// Default: the list built into mxray (the `psl` crate's copy).
    #[arg(help_heading = "Domain stage", long, value_name = "FILE")]
    pub psl: Option<PathBuf>,

    /// Where a domain without its own `_dmarc` record finds its policy: `rfc9989` (the DNS Tree
    /// Walk: each parent up to the TLD, at most 8 queries, to the Organizational Domain that
    /// `psd` tags or the shortest name with a record give, else the Public Suffix Domain; RFC
    /// 9989 4.10; `tree-walk` is the same) or `rfc7489` (its Organizational Domain by the Public
    /// Suffix List, RFC 7489 6.6.3). Both are computed; the other one's disagreements are the
    /// `dmarc_methods_differ` column.
    #[arg(help_heading = "Domain stage", long, value_enum, default_value_t = Discovery::Rfc9989)]
    pub dmarc_discovery: Discovery,

    /// DKIM selectors to probe at every domain: a file, one per line (`#` comments), or `full`
    /// for the 40 of datasets/dkim-selectors.txt, built in. Default: each domain's own plan, the
    /// selectors of the providers its SPF includes and MX hosts name (datasets/dkim-providers.csv)
    /// then 8 common ones. Each costs one TXT query per domain that has a `_domainkey` subtree.
    #[arg(help_heading = "Domain stage", long, value_name = "FILE|full")]
    pub dkim_selectors: Option<PathBuf>,

    /// Do not probe DKIM selectors (dkim_status `skipped`).
    #[arg(help_heading = "Domain stage", long)]
    pub no_dkim: bool,

    /// Set the DNSSEC OK bit so a validating resolver's AD bit can be reported in `dnssec_ad`.
    #[arg(help_heading = "DNS", long)]
    pub dnssec: bool,

    /// Fetch the MTA-STS policy (https://mta-sts.<domain>/.well-known/mta-sts.txt, RFC 8461 3.3)
    /// of every domain with a valid `_mta-sts` record: mode, max_age, mx patterns and the MX hosts
    /// they leave uncovered. No redirects, 64 KiB body cap.
    #[arg(help_heading = "Domain stage", long)]
    pub mta_sts_fetch: bool,

    /// PEM file of CA certificates trusted for policy fetches besides the built-in Mozilla roots.
    #[arg(
        help_heading = "Domain stage",
        long,
        value_name = "FILE",
        requires = "mta_sts_fetch"
    )]
    pub mta_sts_ca: Option<PathBuf>,

    /// Time for one whole policy fetch (address lookup, connect, TLS, response).
    #[arg(help_heading = "Domain stage", long, default_value = "10s", value_parser = parse_duration)]
    pub mta_sts_timeout: Duration,

    /// Connect to every host address over SMTP (after the host stage): greeting, EHLO, STARTTLS
    /// and the certificate, the open-relay variants (each stopping at RCPT TO: mxray never sends
    /// DATA), QUIT. Each address once per scan.
    #[arg(help_heading = "SMTP stage", long)]
    pub smtp: bool,

    /// The TCP ports to probe, comma-separated: a session on each, one after the other (one
    /// connection to an address at a time). 465, or any port written `N/tls`, speaks TLS from
    /// the first byte (RFC 8314); the others STARTTLS. The first port fills the smtp_/tls_
    /// columns and runs the recipient tests; the others go to smtp_other_ports. E.g.
    /// `25,587,465`.
    #[arg(
        help_heading = "SMTP stage",
        long,
        alias = "smtp-port",
        value_delimiter = ',',
        default_value = "25",
        value_name = "PORT[/tls],...",
        requires = "smtp"
    )]
    pub smtp_ports: Vec<SmtpPort>,

    /// The name sent in EHLO/HELO. Set it to a host name you control, with a web page that
    /// says who scans and how to opt out: operators look it up.
    #[arg(help_heading = "SMTP stage", long, default_value = DEFAULT_HELO, value_name = "NAME")]
    pub helo: String,

    /// The recipient domain of the relay tests: a domain you control that resolves (servers
    /// that check the recipient domain refuse a reserved one such as `.invalid` for that reason
    /// alone, which hides an open relay). Default: the --helo name.
    #[arg(help_heading = "SMTP stage", long, value_name = "DOMAIN")]
    pub relay_domain: Option<String>,

    /// Run no relay test (banner, EHLO and TLS only).
    #[arg(help_heading = "SMTP stage", long, requires = "smtp")]
    pub no_relay: bool,

    /// Do not try STARTTLS.
    #[arg(help_heading = "SMTP stage", long, requires = "smtp")]
    pub no_starttls: bool,

    /// Domain scans: at every domain's MX, RCPT TO postmaster@, abuse@, security@, admin@ the
    /// domain, its SOA contact when at the domain, and a random local part
    /// (accepts_any_recipient), one transaction per domain, never DATA. Rows in OUT/recipients/
    /// (one per address asked). The first domain that leads to an address is tested in the
    /// address's own session (also in smtp_recipients); a domain that leads to no new address is
    /// tested at its most preferred MX in a batch with the others there.
    #[arg(help_heading = "SMTP stage", long, requires = "smtp")]
    pub smtp_recipients: bool,

    /// Domains per recipient batch session (one transaction of at most 6 RCPTs each).
    #[arg(
        help_heading = "SMTP stage",
        long,
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..=1000),
        requires = "smtp_recipients"
    )]
    pub smtp_recipient_batch: u32,

    /// RCPTs at most per address per scan, over its recipient batches; the domains past it are
    /// not asked (recipient_status budget).
    #[arg(
        help_heading = "SMTP stage",
        long,
        default_value_t = 1200,
        requires = "smtp_recipients"
    )]
    pub smtp_rcpt_budget: u32,

    /// Keep each session's dialogue in the smtp_transcript column (16 KiB at most).
    #[arg(help_heading = "SMTP stage", long, requires = "smtp")]
    pub smtp_transcript: bool,

    /// SMTP sessions at once.
    #[arg(help_heading = "SMTP stage", long, default_value_t = 500)]
    pub smtp_concurrency: usize,

    /// SMTP sessions at once per /24 (IPv6: per /64). Each address gets one connection at a time.
    #[arg(
        help_heading = "SMTP stage",
        long,
        default_value_t = 4,
        value_name = "N"
    )]
    pub smtp_per_net: usize,

    /// New SMTP connections per second, whole scan.
    #[arg(
        help_heading = "SMTP stage",
        long,
        default_value_t = 200,
        value_name = "PER_S"
    )]
    pub smtp_rate: u32,

    /// Time to connect.
    #[arg(help_heading = "SMTP stage", long, default_value = "10s", value_parser = parse_duration)]
    pub smtp_connect_timeout: Duration,

    /// Time for one reply (all its lines), a write or the TLS handshake.
    #[arg(help_heading = "SMTP stage", long, default_value = "30s", value_parser = parse_duration)]
    pub smtp_reply_timeout: Duration,

    /// Time for a whole session: a tarpit ends as `timeout` within it.
    #[arg(help_heading = "SMTP stage", long, default_value = "90s", value_parser = parse_duration)]
    pub smtp_session_timeout: Duration,

    /// PEM file of CA certificates trusted for tls_cert_valid besides Mozilla's roots (a private
    /// CA); with --smtp-ca-only, instead of them.
    #[arg(
        help_heading = "SMTP stage",
        long,
        value_name = "FILE",
        requires = "smtp"
    )]
    pub smtp_ca: Option<PathBuf>,

    /// When rustls cannot speak to a server (TLS 1.0/1.1 only, legacy suites), make a second
    /// handshake with this OpenSSL program at security level 0, to report the old version
    /// rather than a broken server.
    #[arg(
        help_heading = "SMTP stage",
        long,
        default_value = "openssl",
        value_name = "PROGRAM"
    )]
    pub smtp_openssl: String,

    /// No second handshake through OpenSSL.
    #[arg(help_heading = "SMTP stage", long, requires = "smtp")]
    pub no_tls_legacy: bool,

    /// Trust only --smtp-ca.
    #[arg(help_heading = "SMTP stage", long, requires = "smtp_ca")]
    pub smtp_ca_only: bool,
}

/// `--dmarc-discovery` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Discovery {
    #[value(alias = "tree-walk")]
    Rfc9989,
    Rfc7489,
}

/// `128M`, `1G`, `64K` (powers of 1024) or plain bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 10),
        Some((i, 'M' | 'm')) => (&s[..i], 20),
        Some((i, 'G' | 'g')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: a size such as 128M, 1G or 65536"))?;
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?}"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * unit))
}

/// One worker thread per core, less one when every resolver is a loopback address: the resolver
/// runs on this machine, and a thread of the scan's would take its core.
pub fn default_worker_threads(cores: usize, resolvers: &[IpAddr]) -> usize {
    let local = !resolvers.is_empty() && resolvers.iter().all(IpAddr::is_loopback);
    if local {
        cores.saturating_sub(1).max(1)
    } else {
        cores.max(1)
    }
}

pub fn parse_resolver(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip: IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("--resolver {s:?}: expected IP or IP:PORT"))?;
    Ok(SocketAddr::new(ip, 53))
}

/// The zones shipped with mxray (datasets/dnsbl-zones.csv).
const SHIPPED_ZONES: &str = include_str!("../datasets/dnsbl-zones.csv");

impl ScanArgs {
    fn host_options(&self) -> anyhow::Result<HostOptions> {
        let mut exclude = if self.no_default_excludes {
            ExcludeList::minimal(self.allow_loopback)
        } else {
            ExcludeList::defaults(self.allow_loopback)
        };
        for f in &self.excludes {
            exclude.extend(ExcludeList::from_file(f)?);
        }
        let table = match &self.dnsbl_config {
            Some(path) => dnsbl::load_zones(path)?,
            None => dnsbl::parse_zones(SHIPPED_ZONES)?,
        };
        let dnsbl = match self.dnsbl.as_deref() {
            None if self.dnsbl_config.is_some() => table,
            None | Some("") => Vec::new(),
            Some("all") => table,
            Some(list) => {
                let mut zones = Vec::new();
                for name in list
                    .split(',')
                    .map(|z| z.trim().trim_end_matches('.').to_lowercase())
                {
                    match table.iter().find(|z| z.zone == name) {
                        Some(z) => zones.push(z.clone()),
                        None => bail!(
                            "--dnsbl: zone {name:?} is not in the zone table (add it with --dnsbl-config)"
                        ),
                    }
                }
                zones
            }
        };
        let asn = match &self.asn_db {
            Some(path) => {
                let (db, report) = if path.extension().is_some_and(|e| e == "gz") {
                    let f = std::fs::File::open(path)
                        .with_context(|| format!("--asn-db {}", path.display()))?;
                    AsnDb::from_reader(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                        f,
                    )))
                    .with_context(|| format!("--asn-db {}", path.display()))?
                } else {
                    AsnDb::from_file(path)?
                };
                if report.bad > 0 {
                    eprintln!(
                        "mxray: --asn-db {}: {} bad lines skipped (first: {:?})",
                        path.display(),
                        report.bad,
                        report.first_errors.first()
                    );
                }
                Some(std::sync::Arc::new(db))
            }
            None => None,
        };
        let asn_dns = match &self.asn_dns_zones {
            Some(list) => {
                let z: Vec<&str> = list.split(',').map(str::trim).collect();
                match z[..] {
                    [v4, v6] => Some(AsnDnsZones {
                        origin_v4: v4.into(),
                        origin_v6: v6.into(),
                        as_names: None,
                    }),
                    [v4, v6, names] => Some(AsnDnsZones {
                        origin_v4: v4.into(),
                        origin_v6: v6.into(),
                        as_names: Some(names.into()),
                    }),
                    _ => bail!("--asn-dns-zones: expected V4ZONE,V6ZONE[,ASNAMEZONE]"),
                }
            }
            None => self.asn_dns.then(AsnDnsZones::default),
        };
        let rpki = match &self.rpki_vrps {
            // Without an origin AS there is no route to judge: every rpki_status would be null.
            Some(_) if asn.is_none() && asn_dns.is_none() => {
                bail!("--rpki-vrps needs each address's origin AS: give --asn-db or --asn-dns")
            }
            Some(path) => Some(std::sync::Arc::new(VrpFile::read(path)?)),
            None => None,
        };
        Ok(HostOptions {
            dnsbl,
            asn,
            exclude: std::sync::Arc::new(exclude),
            asn_dns,
            rpki,
        })
    }
}

fn read_certificates(
    flag: &str,
    path: &std::path::Path,
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{flag} {}: no certificate in the file", path.display());
    }
    Ok(certs)
}

fn parse_formats(s: &str) -> anyhow::Result<Formats> {
    let mut f = Formats {
        parquet: false,
        csv: false,
    };
    for part in s.split(',') {
        match part.trim() {
            "parquet" => f.parquet = true,
            "csv" => f.csv = true,
            other => bail!("--format: unknown format {other:?} (parquet, csv)"),
        }
    }
    Ok(f)
}

impl ScanArgs {
    /// The runtime's worker threads on a machine of `cores` cores: `--threads`, or
    /// [`default_worker_threads`] for the resolvers. When they cannot be read, as many as the
    /// cores: `into_options` then refuses the scan before any query.
    pub fn worker_threads(&self, cores: usize) -> usize {
        if let Some(n) = self.threads {
            return n.into();
        }
        let resolvers: Vec<IpAddr> = self
            .servers()
            .map(|v| v.iter().map(SocketAddr::ip).collect())
            .unwrap_or_default();
        default_worker_threads(cores, &resolvers)
    }

    /// The `--resolver`s, or the system's when none is given.
    fn servers(&self) -> anyhow::Result<Vec<SocketAddr>> {
        if self.resolvers.is_empty() {
            mxray::dns::system::system_servers()
                .map_err(|e| anyhow::anyhow!("no --resolver given and {e}"))
        } else {
            self.resolvers.iter().map(|r| parse_resolver(r)).collect()
        }
    }

    pub fn into_options(self, command_line: Vec<String>) -> anyhow::Result<ScanOptions> {
        // Before any file is read or socket opened (the library checks it again, later).
        if self.resume && self.domains.as_deref() == Some("-") {
            return Err(mxray::pipeline::ResumeError::Stream { input: "-".into() }.into());
        }
        let servers = self.servers()?;
        let progress = if self.quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain(Duration::from_secs(10))
        };
        let hosts = self.host_options()?;
        // Files the user names are read here, once: the library never opens them mid-scan.
        let psl = match &self.psl {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--psl {}", path.display()))?;
                let list = SuffixList::parse(&text)
                    .map_err(|e| anyhow::anyhow!("--psl {}: {e}", path.display()))?;
                Some(std::sync::Arc::new(list))
            }
            None => None,
        };
        let dkim_selectors = match &self.dkim_selectors {
            Some(path) if path.as_os_str() == "full" => Some(dkim::builtin_selectors()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--dkim-selectors {}", path.display()))?;
                Some(
                    dkim::load_selectors(&text)
                        .map_err(|e| anyhow::anyhow!("--dkim-selectors {}: {e}", path.display()))?,
                )
            }
            None => None,
        };
        let policies = PolicyOptions {
            dmarc_discovery: match self.dmarc_discovery {
                Discovery::Rfc7489 => DiscoveryMode::Rfc7489,
                Discovery::Rfc9989 => DiscoveryMode::Rfc9989,
            },
            psl,
            dkim: !self.no_dkim,
            dkim_selectors: dkim_selectors.map(std::sync::Arc::new),
            mta_sts_fetch: if self.mta_sts_fetch {
                Some(FetchOptions {
                    timeout: self.mta_sts_timeout,
                    extra_roots: match &self.mta_sts_ca {
                        Some(path) => read_certificates("--mta-sts-ca", path)?,
                        None => Vec::new(),
                    },
                    ..FetchOptions::default()
                })
            } else {
                None
            },
            ..PolicyOptions::default()
        };
        let smtp = if self.smtp {
            let helo = Arg::new(self.helo.clone())
                .filter(|a| !a.as_str().contains(' '))
                .ok_or_else(|| anyhow::anyhow!("--helo {:?}: not a host name", self.helo))?;
            let relay_domain = self
                .relay_domain
                .clone()
                .unwrap_or_else(|| self.helo.clone());
            let mut ports: Vec<SmtpPort> = Vec::with_capacity(self.smtp_ports.len());
            for p in &self.smtp_ports {
                if ports.iter().any(|q| q.port == p.port) {
                    anyhow::bail!("--smtp-ports: port {} given twice", p.port);
                }
                ports.push(*p);
            }
            Some(SmtpOptions {
                ports,
                session: SessionOptions {
                    helo,
                    deadlines: Deadlines {
                        connect: self.smtp_connect_timeout,
                        reply: self.smtp_reply_timeout,
                        session: self.smtp_session_timeout,
                    },
                    starttls: !self.no_starttls,
                    relay_domain: (!self.no_relay).then_some(relay_domain),
                    recipients: self.smtp_recipients,
                    transcript: self.smtp_transcript,
                    legacy_tls: (!self.no_tls_legacy).then(|| LegacyProbe {
                        program: self.smtp_openssl.clone(),
                    }),
                    ..SessionOptions::default()
                },
                concurrency: self.smtp_concurrency,
                per_net: self.smtp_per_net,
                rate: self.smtp_rate,
                extra_roots: match &self.smtp_ca {
                    Some(path) => read_certificates("--smtp-ca", path)?,
                    None => Vec::new(),
                },
                only_extra_roots: self.smtp_ca_only,
                recipient_batches: mxray::pipeline::smtp::BatchOptions {
                    batch: self.smtp_recipient_batch as usize,
                    budget: self.smtp_rcpt_budget,
                    ..Default::default()
                },
            })
        } else {
            None
        };
        Ok(ScanOptions {
            smtp,
            targets: match (self.ips, self.domains) {
                (Some(spec), _) => Targets::Ips(spec),
                (None, Some(path)) => Targets::Domains(path),
                (None, None) => bail!("name the targets: --domains FILE or --ips SPEC"),
            },
            seed: self.seed,
            shard: self.shard,
            max_ipv6: self.max_ipv6_range.into(),
            hosts,
            domain: mxray::pipeline::domain::DomainOptions {
                spf_walk: !self.no_spf_walk,
                spf_type99: self.spf_type99,
                skip_after_mx_timeout: !self.ask_after_mx_timeout,
            },
            out: self.out,
            overwrite: self.overwrite,
            resume: self.resume,
            engine: EngineOptions {
                servers,
                timeout: self.timeout,
                retries: self.retries,
                concurrency: self.concurrency,
                adaptive_window: !self.fixed_window,
                sockets: self.sockets,
                rate: self.rate,
                rate_per_server: self.rate_per_resolver,
                dnssec_ok: self.dnssec,
                ..EngineOptions::default()
            },
            cache: CacheOptions {
                memory: self.cache_memory,
                ..CacheOptions::default()
            },
            reader: ReaderOptions::default(),
            writer: WriterOptions {
                formats: parse_formats(&self.format)?,
                flush_interval: self.flush_interval,
                ..WriterOptions::default()
            },
            domain_concurrency: self.domain_concurrency,
            host_concurrency: self.host_concurrency,
            host_checks: !self.no_hosts,
            progress,
            policies,
            command_line,
            resolver_outage_limit: self.resolver_outage_limit,
            last_pass: mxray::pipeline::last_pass::LastPassOptions {
                max_targets: self.last_pass_max,
                concurrency: self.last_pass_concurrency,
                ..Default::default()
            },
            ..ScanOptions::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_leave_a_local_resolver_a_core() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: [(usize, &[&str], usize); 7] = [
            (2, &["127.0.0.1"], 1),
            (8, &["::1"], 7),
            (1, &["127.0.0.53"], 1),
            (2, &["192.0.2.1"], 2),
            (4, &["127.0.0.1", "192.0.2.1"], 4),
            (4, &[], 4),
            (0, &["127.0.0.1"], 1),
        ];
        for (cores, resolvers, want) in cases {
            let r: Vec<IpAddr> = resolvers.iter().map(|s| ip(s)).collect();
            assert_eq!(
                default_worker_threads(cores, &r),
                want,
                "{cores} cores, {resolvers:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        let cases = [
            ("128M", Ok(128 << 20)),
            ("1G", Ok(1 << 30)),
            ("64k", Ok(64 << 10)),
            ("65536", Ok(65536)),
            ("0", Err(())),
            ("x", Err(())),
            ("99999999999G", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_bytes(s).map_err(|_| ()), want, "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn resolvers() {
        assert_eq!(
            parse_resolver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_resolver("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert!(parse_resolver("resolver.example").is_err());
    }

    fn check_args(args: &[&str]) -> CheckArgs {
        let line = ["mxray", "check"].iter().chain(args);
        match Cli::try_parse_from(line).unwrap().command {
            Command::Check(c) => *c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_check_is_a_scan_with_every_check_on() {
        let s = check_args(&["example.com"]).scan_args();
        assert!(s.smtp && s.smtp_recipients && s.mta_sts_fetch && s.asn_dns);
        assert_eq!(s.dnsbl.as_deref(), Some("all"));
        assert!(!s.no_starttls && !s.no_relay && !s.no_dkim && !s.no_spf_walk);
        // The scan's own defaults where the check says nothing.
        assert_eq!(s.smtp_ports, [SmtpPort::plain(25)]);
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.smtp_session_timeout, Duration::from_secs(90));
        assert_eq!(s.helo, DEFAULT_HELO);

        let s = check_args(&[
            "x.example",
            "--no-smtp",
            "--no-dnsbl",
            "--smtp-ports",
            "2525",
            "--smtp-session-timeout",
            "3s",
            "--resolver",
            "127.0.0.1:5300",
        ])
        .scan_args();
        assert!(!s.smtp && !s.smtp_recipients);
        assert_eq!(s.dnsbl.as_deref(), Some(""));
        assert_eq!(s.smtp_ports, [SmtpPort::plain(2525)]);
        assert_eq!(s.smtp_session_timeout, Duration::from_secs(3));
        assert_eq!(s.resolvers, ["127.0.0.1:5300"]);
    }

    #[test]
    fn colour_follows_the_terminal_no_color_and_the_flag() {
        use std::ffi::OsStr;
        let cases: [(&[&str], bool, Option<&str>, bool); 6] = [
            (&[], true, None, true),
            (&[], true, Some(""), true),
            (&[], true, Some("1"), false),
            (&[], false, None, false),
            (&["--color", "always"], false, Some("1"), true),
            (&["--color", "never"], true, None, false),
        ];
        for (flags, terminal, no_color, want) in cases {
            let mut args = vec!["x.example"];
            args.extend(flags);
            let style = check_args(&args).text_style(terminal, no_color.map(OsStr::new));
            assert_eq!(
                style.color, want,
                "{flags:?} terminal={terminal} NO_COLOR={no_color:?}"
            );
        }
    }

    #[test]
    fn formats() {
        let f = parse_formats("parquet,csv").unwrap();
        assert!(f.parquet && f.csv);
        assert!(parse_formats("json").is_err());
    }
}
