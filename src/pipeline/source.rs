//! What feeds a scan: the input read on a thread of its own (a domain list, or address specs
//! in their seeded order), its bad lines written to rejects.csv, the targets of this shard that
//! an earlier run of a resumed scan did not do sent into the first stage's bounded channel.

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::resume::DoneDomains;
use super::{ScanError, ScanOptions, ScanStats, Targets};
use crate::targets::ips::{self, IpTargets};
use crate::targets::shard::Shard;
use crate::targets::{DomainReader, Item, ReaderOptions, Reject};

/// rejects.csv. A resumed scan reads its input again from the start: the lines an earlier run
/// already wrote (up to `through`) are not written twice.
pub(super) struct Rejects {
    w: csv::Writer<BufWriter<File>>,
    through: u64,
}

const REJECTS: &str = "rejects.csv";

impl Rejects {
    /// A new rejects.csv, or (resuming) the earlier run's, appended to. The header is on disk at
    /// once: a scan killed before its first reject still leaves a CSV file a reader (or
    /// `--resume`) takes as one.
    pub(super) fn open(out: &Path, resume_through: Option<u64>) -> Result<Rejects, ScanError> {
        let path = out.join(REJECTS);
        let out_err = |source| ScanError::Output {
            path: out.to_path_buf(),
            source,
        };
        let (file, through) = match resume_through {
            // Resume::load cut a last line the kill left half-written.
            Some(through) if path.exists() => (
                fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(out_err)?,
                through,
            ),
            _ => (File::create(&path).map_err(out_err)?, 0),
        };
        let empty = file.metadata().map_err(out_err)?.len() == 0;
        let mut rejects = Rejects {
            w: csv::Writer::from_writer(BufWriter::new(file)),
            through,
        };
        if empty {
            rejects
                .w
                .write_record(["line", "text", "reason"])
                .map_err(|e| write_err(e.into()))?;
        }
        rejects.flush().map_err(write_err)?;
        Ok(rejects)
    }

    fn write(&mut self, r: &Reject) -> csv::Result<()> {
        if r.line <= self.through {
            return Ok(());
        }
        self.w
            .write_record([r.line.to_string(), r.text.clone(), r.reason.clone()])
    }

    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn write_err(source: io::Error) -> ScanError {
    ScanError::Write {
        table: REJECTS,
        source,
    }
}

/// What feeds the scan.
pub(super) enum Source {
    Domains(Box<dyn BufRead + Send>),
    Ips(IpTargets),
}

impl Source {
    /// Opens the input. Address targets are parsed up front (a spec list is small even when its
    /// ranges are huge), so that bad lines and the total are known before the first probe.
    pub(super) fn open(
        opts: &ScanOptions,
        stats: &ScanStats,
        rejects: &mut Rejects,
    ) -> Result<Source, ScanError> {
        match &opts.targets {
            Targets::Ips(spec) => {
                let targets = ip_targets(spec, opts, stats, rejects)?;
                rejects.flush().map_err(write_err)?;
                Ok(Source::Ips(targets))
            }
            Targets::Domains(input) => {
                crate::targets::open(input)
                    .map(Source::Domains)
                    .map_err(|source| ScanError::Input {
                        path: input.clone(),
                        source,
                    })
            }
        }
    }
}

/// Parses an address spec (a file when `spec` names one, else an inline comma-separated list),
/// writes its bad lines to rejects.csv, and removes excluded addresses.
fn ip_targets(
    spec: &str,
    opts: &ScanOptions,
    stats: &ScanStats,
    rejects: &mut Rejects,
) -> Result<IpTargets, ScanError> {
    let list = if Path::new(spec).is_file() {
        ips::parse_spec_file(Path::new(spec), opts.max_ipv6)?
    } else {
        ips::parse_spec_inline(spec, opts.max_ipv6)
    };
    for r in &list.rejects {
        stats.rejects.fetch_add(1, Relaxed);
        rejects.write(r).map_err(|e| write_err(e.into()))?;
    }
    let mut targets = list.targets();
    if targets.is_empty() && list.rejects.is_empty() {
        return Err(ScanError::NoAddress(spec.to_string()));
    }
    let excluded = opts.hosts.exclude.apply(&mut targets);
    stats
        .excluded
        .store(excluded.min(u64::MAX as u128) as u64, Relaxed);
    let mine = opts.shard.positions_of(targets.len());
    stats.set_total_source(Arc::new(OnceLock::from(mine.min(u64::MAX as u128) as u64)));
    Ok(targets)
}

/// Which of the input's targets this run scans: its shard's, less those an earlier run of a
/// resumed scan did.
pub(super) struct Wanted {
    pub shard: Shard,
    pub seed: u64,
    pub done_domains: Arc<DoneDomains>,
    pub done_hosts: Arc<std::collections::HashSet<IpAddr, ahash::RandomState>>,
}

/// Where the reader sends its targets: the domain stage's input (domain scans), or the host
/// stage's (address scans).
pub(super) struct Entry {
    pub domains: Option<mpsc::Sender<String>>,
    pub hosts: mpsc::Sender<IpAddr>,
}

/// The reader thread: sends the wanted domains to the domain stage, or the wanted addresses to
/// the host stage, until the input ends or `cancel` fires. Its result is the input's error.
pub(super) fn spawn_reader(
    source: Source,
    reader: ReaderOptions,
    wanted: Wanted,
    mut rejects: Rejects,
    entry: Entry,
    stats: Arc<ScanStats>,
    cancel: CancellationToken,
) -> JoinHandle<io::Result<()>> {
    let Entry { domains, hosts } = entry;
    std::thread::spawn(move || match (source, domains) {
        (Source::Domains(input), Some(tx)) => {
            drop(hosts);
            read_domains(input, reader, &wanted, rejects, tx, &stats, &cancel)
        }
        (Source::Ips(targets), _) => {
            send_ips(&targets, &wanted, &hosts, &stats, &cancel);
            rejects.flush()
        }
        (Source::Domains(_), None) => Err(io::Error::other("a domain source has no domain stage")),
    })
}

fn send_ips(
    targets: &IpTargets,
    wanted: &Wanted,
    hosts: &mpsc::Sender<IpAddr>,
    stats: &ScanStats,
    cancel: &CancellationToken,
) {
    let mut tx = BatchSender::new(hosts);
    for ip in wanted.shard.ips(targets, wanted.seed) {
        if wanted.done_hosts.contains(&ip) {
            stats.resumed_skipped.fetch_add(1, Relaxed);
            continue;
        }
        if cancel.is_cancelled() || tx.send(ip).is_err() {
            break;
        }
        stats.read.fetch_add(1, Relaxed);
    }
    stats.input_done.store(true, Relaxed);
}

fn read_domains(
    input: Box<dyn BufRead + Send>,
    opts: ReaderOptions,
    wanted: &Wanted,
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
                if wanted.done_domains.contains(&t.domain) {
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

/// Counts the input's data lines in the background so progress can show a total and ETA without
/// delaying the scan.
pub(super) fn count_in_background(targets: &Targets, stats: &ScanStats) {
    let Targets::Domains(input) = targets else {
        return;
    };
    if input == "-" {
        return;
    }
    let cell = Arc::new(OnceLock::new());
    stats.set_total_source(cell.clone());
    let path = input.clone();
    std::thread::spawn(move || {
        if let Some(n) = crate::targets::count_entries(&path) {
            let _ = cell.set(n);
        }
    });
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
