//! `--resume`: go on with a scan whose process was killed or stopped, in the same output
//! directory, with the same input, shard and seed.
//!
//! What is done is read from the scan's own Parquet parts (a visible part is always whole: it is
//! written under a hidden name and renamed once closed), not from run.json, whose last checkpoint
//! may be seconds older than the parts. Targets with a row are skipped, the MX addresses of done
//! domains that have no hosts row yet (in flight when the scan died) are checked first, and new
//! parts continue the numbering, so the union of the parts holds every target exactly once.
//!
//! A resumed scan reads its input again from the start, so the input must be the one the scan
//! started on: run.json records its size and SHA-256 ([`InputFingerprint`]) and `--resume`
//! refuses a file that differs, and any input that cannot be read twice (stdin, a pipe).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ListArray, StringArray, StructArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::smtp::Via;
use super::{ScanError, ScanOptions, Targets};
use crate::output::{DomainRow, HostRow, RecipientRow, Table};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    #[error("--resume: {0} holds no scan to resume (no run.json)")]
    NoManifest(PathBuf),
    #[error("--resume: {path} is not a manifest mxray can read: {source}")]
    BadManifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "--resume: the scan in {out} was started with {what} {was:?}, not {now:?}: resume with the same input, shard and seed, or scan into another --out"
    )]
    Mismatch {
        out: PathBuf,
        what: &'static str,
        was: String,
        now: String,
    },
    #[error(
        "--resume: the input {input} is stdin or a pipe, which can be read only once: a resumed scan reads its input again from the start, so save the list to a file and scan that"
    )]
    Stream { input: String },
    #[error(
        "--resume: the input {input} is not the one the scan in {out} started on ({} then, {} now): the rows written would not match its lines; resume with the file as it was, or scan it into another --out",
        describe(.was.as_ref()),
        describe(.now.as_ref())
    )]
    InputChanged {
        out: PathBuf,
        input: String,
        was: Option<InputFingerprint>,
        now: Option<InputFingerprint>,
    },
    #[error(
        "--resume: {out}/run.json does not record the input's size and SHA-256 (an mxray older than that check wrote it), so the input cannot be checked: scan into another --out"
    )]
    InputNotRecorded { out: PathBuf },
    #[error(
        "--resume needs the Parquet parts (--format parquet or parquet,csv): they say what is done"
    )]
    NeedsParquet,
    #[error("--resume: cannot read {path}: {source} (move the file away to rescan its rows)")]
    Part {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("--resume: {path}: column {column} is missing or of another type")]
    Column { path: PathBuf, column: String },
    #[error("--resume: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The input file as run.json records it (`input_bytes`, `input_sha256`).
///
/// The whole file is hashed, not its first and last MiB plus the size: SHA-256 (ring, which uses
/// the CPU's SHA instructions) read and hashed a list of a million domains (29 MB, page cache
/// warm) in 30-47 ms, 610-990 MB/s, on the shared 2-core machine of the benchmarks: about 5 s for
/// a list of a hundred million, against the hours a scan of such a list takes, and it is paid
/// once at the start. The ends alone would miss the edits a list in place gets: a line replaced
/// by one of the same length, the middle re-sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    /// The file's size in bytes (as stored: a `.gz` list is hashed compressed).
    pub bytes: u64,
    /// SHA-256 of the whole file, lowercase hex (what `sha256sum` prints).
    pub sha256: String,
}

impl InputFingerprint {
    /// Reads the whole file at `path`.
    pub fn of_file(path: &Path) -> io::Result<InputFingerprint> {
        let mut file = File::open(path)?;
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hash.update(&buf[..n]);
                    bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let sha256 = hash
            .finish()
            .as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut hex, b| {
                use std::fmt::Write as _;
                let _ = write!(hex, "{b:02x}");
                hex
            });
        Ok(InputFingerprint { bytes, sha256 })
    }
}

fn describe(f: Option<&InputFingerprint>) -> String {
    match f {
        Some(f) => format!("{} bytes, SHA-256 {}", f.bytes, f.sha256),
        None => "not a file".into(),
    }
}

/// What a scan's input is, as far as reading it again goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A regular file: read again, it must hash the same.
    File(InputFingerprint),
    /// stdin (`-`) or a pipe (`<(zcat list.gz)`): read once. Not hashed, which would consume it.
    Stream,
    /// An inline address list (`--ips 192.0.2.0/24,...`): run.json's `input` is the whole of it.
    Inline,
}

impl InputSource {
    /// Looks at the input the way the scan reads it: an address spec is a file when one exists
    /// at that path, else a list; a domain input is stdin (`-`) or a path.
    pub fn of(targets: &Targets) -> io::Result<InputSource> {
        let path = match targets {
            Targets::Domains(p) if p == "-" => return Ok(InputSource::Stream),
            Targets::Domains(p) => Path::new(p),
            Targets::Ips(spec) if Path::new(spec).is_file() => Path::new(spec),
            Targets::Ips(_) => return Ok(InputSource::Inline),
        };
        if !fs::metadata(path)?.is_file() {
            return Ok(InputSource::Stream);
        }
        InputFingerprint::of_file(path).map(InputSource::File)
    }

    pub fn fingerprint(&self) -> Option<&InputFingerprint> {
        match self {
            InputSource::File(f) => Some(f),
            InputSource::Stream | InputSource::Inline => None,
        }
    }
}

/// stdin or a pipe: refused before anything is read or hashed.
fn is_stream(targets: &Targets) -> bool {
    match targets {
        Targets::Domains(p) => p == "-" || fs::metadata(p).is_ok_and(|m| !m.is_file()),
        Targets::Ips(_) => false,
    }
}

/// The earlier run's input (`was`, from its run.json) against the input now.
fn check_input(
    out: &Path,
    input: &str,
    was: Option<InputFingerprint>,
    now: Option<InputFingerprint>,
) -> Result<(), ResumeError> {
    match (&was, &now) {
        (None, None) => Ok(()),
        (Some(w), Some(n)) if w == n => Ok(()),
        (None, Some(_)) => Err(ResumeError::InputNotRecorded {
            out: out.to_path_buf(),
        }),
        _ => Err(ResumeError::InputChanged {
            out: out.to_path_buf(),
            input: input.to_string(),
            was,
            now,
        }),
    }
}

/// One resume, as run.json lists it (every earlier one is carried over).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResumeRecord {
    /// When this run started.
    pub at: String,
    /// The manifest found: the earlier run's start and state (`running` after a kill).
    pub previous_started_at: String,
    pub previous_state: String,
    /// Rows found in the parts, skipped by this run.
    pub domains_done: u64,
    pub hosts_done: u64,
    /// MX addresses of done domains without a hosts row, checked again by this run.
    pub orphan_hosts: u64,
    /// Parts found (new ones continue the numbering).
    pub domain_parts: u64,
    pub host_parts: u64,
    /// Hidden temporary parts of a write the kill interrupted, removed.
    pub discarded_partial_parts: u64,
}

/// The addresses with a hosts row.
fn done_hosts(host_parts: &[PathBuf]) -> Result<HashSet<IpAddr, ahash::RandomState>, ResumeError> {
    let mut hosts = HashSet::with_hasher(ahash::RandomState::new());
    for p in host_parts {
        read_column(p, &["ip"], |batch| {
            let ips = strings(batch, 0, p, "ip")?;
            for i in 0..ips.len() {
                if let Ok(ip) = ips.value(i).parse() {
                    hosts.insert(ip);
                }
            }
            Ok(())
        })?;
    }
    Ok(hosts)
}

/// A resumed scan's done domains, and (with `orphans`) the MX addresses of done domains that
/// have no hosts row (in flight at the kill), with how the domain reached them.
type DoneAndOrphans = (Vec<String>, Vec<(IpAddr, Option<Via>)>);

fn done_domains(
    domain_parts: &[PathBuf],
    hosts: &HashSet<IpAddr, ahash::RandomState>,
    orphans_wanted: bool,
) -> Result<DoneAndOrphans, ResumeError> {
    let mut names = Vec::new();
    let mut orphans = Vec::new();
    let mut seen_orphans = HashSet::with_hasher(ahash::RandomState::new());
    for p in domain_parts {
        read_column(p, &["domain", "mx", "mx_ips", "soa_rname"], |batch| {
            let domain = strings(batch, 0, p, "domain")?;
            let list = |i: usize, name: &str| {
                let col = batch.column(i).as_any().downcast_ref::<ListArray>();
                col.ok_or_else(|| col_err(p, name))
            };
            let (mx, mx_ips) = (list(1, "mx")?, list(2, "mx_ips")?);
            let soa = strings(batch, 3, p, "soa_rname")?;
            for i in 0..batch.num_rows() {
                names.push(domain.value(i).to_string());
                if !orphans_wanted || mx_ips.is_null(i) {
                    continue;
                }
                let ips = mx_ips.value(i);
                let ips = ips
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| col_err(p, "mx_ips"))?;
                for j in 0..ips.len() {
                    let Ok(ip) = ips.value(j).parse::<IpAddr>() else {
                        continue;
                    };
                    if hosts.contains(&ip) || !seen_orphans.insert(ip) {
                        continue;
                    }
                    let via = sole_exchange(mx, i).map(|exchange| Via {
                        domain: domain.value(i).to_string(),
                        exchange,
                        soa_contact: (!soa.is_null(i)).then(|| soa.value(i).to_string()),
                    });
                    orphans.push((ip, via));
                }
            }
            Ok(())
        })?;
    }
    Ok((names, orphans))
}

/// The domains with a row: 64-bit hashes, sorted, so ten million done domains cost 80 MB
/// rather than the strings. Two distinct names share a hash with odds of about n²/2⁶⁵
/// (3·10⁻⁶ for ten million): the cost would be one domain not rescanned.
#[derive(Debug)]
pub struct DoneDomains {
    hashes: Vec<u64>,
    // Built once: `contains` runs for every domain the reader yields.
    hasher: ahash::RandomState,
}

impl Default for DoneDomains {
    fn default() -> Self {
        DoneDomains::from_names([])
    }
}

fn hasher() -> ahash::RandomState {
    // Fixed seeds: the set is built and asked in one process, but a fixed hash keeps the
    // behaviour the same from run to run.
    ahash::RandomState::with_seeds(0x6d78, 0x7261, 0x7972, 0x6573)
}

impl DoneDomains {
    fn from_names(names: impl IntoIterator<Item = String>) -> DoneDomains {
        let hasher = hasher();
        let mut hashes: Vec<u64> = names
            .into_iter()
            .map(|n| hasher.hash_one(n.as_str()))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        DoneDomains { hashes, hasher }
    }

    pub fn contains(&self, domain: &str) -> bool {
        !self.hashes.is_empty()
            && self
                .hashes
                .binary_search(&self.hasher.hash_one(domain))
                .is_ok()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// What an earlier run left, read before the scan starts.
#[derive(Debug, Default)]
pub struct Resume {
    pub domains: Arc<DoneDomains>,
    /// Addresses with a hosts row.
    pub hosts: Arc<HashSet<IpAddr, ahash::RandomState>>,
    /// MX addresses of done domains without a hosts row, with how the domain reached them.
    pub orphans: Vec<(IpAddr, Option<Via>)>,
    /// Parts already written per table: the next part's number.
    pub domain_parts: u64,
    pub host_parts: u64,
    pub recipient_parts: u64,
    /// rejects.csv's lines already written are not written again (the input is read anew).
    pub rejects_through: u64,
    /// Every resume of this output directory, this one last.
    pub history: Vec<ResumeRecord>,
    /// The input's fingerprint [`Resume::load`] checked (None for a scan not resumed: see
    /// [`Resume::input`]).
    input: Option<Option<InputFingerprint>>,
}

/// The fields of an earlier run.json that `--resume` checks and carries over.
#[derive(Deserialize)]
struct Earlier {
    targets: String,
    input: String,
    shard: String,
    seed: u64,
    started_at: String,
    state: String,
    #[serde(default)]
    resumes: Vec<ResumeRecord>,
    // Absent from the run.json of an mxray older than the input check, null for an input that
    // is not a file.
    #[serde(default)]
    input_bytes: Option<u64>,
    #[serde(default)]
    input_sha256: Option<String>,
}

impl Earlier {
    /// The earlier run's run.json in `out`.
    fn read(out: &Path) -> Result<Earlier, ResumeError> {
        let manifest = out.join("run.json");
        let text = match fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ResumeError::NoManifest(out.to_path_buf()));
            }
            Err(source) => {
                return Err(ResumeError::Io {
                    path: manifest,
                    source,
                });
            }
        };
        serde_json::from_str(&text).map_err(|source| ResumeError::BadManifest {
            path: manifest.clone(),
            source,
        })
    }

    /// The earlier run scanned what `opts` says (targets, input, shard, seed), and the input
    /// file is the same. Returns the input's fingerprint now.
    fn matches(&self, opts: &ScanOptions) -> Result<Option<InputFingerprint>, ResumeError> {
        let out = &opts.out;
        let mismatch = |what, was: String, now: String| {
            if was == now {
                Ok(())
            } else {
                Err(ResumeError::Mismatch {
                    out: out.clone(),
                    what,
                    was,
                    now,
                })
            }
        };
        mismatch("targets", self.targets.clone(), opts.targets.kind().into())?;
        mismatch("input", self.input.clone(), opts.targets.input().into())?;
        mismatch("shard", self.shard.clone(), opts.shard.to_string())?;
        mismatch("seed", self.seed.to_string(), opts.seed.to_string())?;
        let input = opts.targets.input();
        let now = InputSource::of(&opts.targets)
            .map_err(|source| ResumeError::Io {
                path: PathBuf::from(input),
                source,
            })?
            .fingerprint()
            .cloned();
        check_input(out, input, self.input(), now.clone())?;
        Ok(now)
    }

    fn input(&self) -> Option<InputFingerprint> {
        Some(InputFingerprint {
            bytes: self.input_bytes?,
            sha256: self.input_sha256.clone()?,
        })
    }
}

impl Resume {
    /// Reads `opts.out`: its run.json (which must match `opts`, the input file's size and
    /// SHA-256 included), its parts and rejects.csv.
    pub fn load(opts: &ScanOptions) -> Result<Resume, ResumeError> {
        let out = &opts.out;
        if is_stream(&opts.targets) {
            return Err(ResumeError::Stream {
                input: opts.targets.input().to_string(),
            });
        }
        if !opts.writer.formats.parquet {
            return Err(ResumeError::NeedsParquet);
        }
        let earlier = Earlier::read(out)?;
        let now = earlier.matches(opts)?;
        let mut discarded = 0;
        for table in [DomainRow::NAME, HostRow::NAME, RecipientRow::NAME] {
            // A compaction a kill cut short: finish it, so no row is read twice.
            let dir = out.join(table);
            crate::output::writer::settle_compaction(&dir)
                .map_err(|source| ResumeError::Io { path: dir, source })?;
        }
        let domain_parts = parts(&out.join(DomainRow::NAME), &mut discarded)?;
        let host_parts = parts(&out.join(HostRow::NAME), &mut discarded)?;
        // The recipient rows of batches a kill cut short are not asked again: the domains are
        // done (their rows are in the domains table), and the table says what was asked.
        let recipient_parts = parts(&out.join(RecipientRow::NAME), &mut discarded)?;
        let hosts = done_hosts(&host_parts)?;
        let orphans_wanted = matches!(opts.targets, Targets::Domains(_)) && opts.host_checks;
        let (names, orphans) = done_domains(&domain_parts, &hosts, orphans_wanted)?;
        let domains = DoneDomains::from_names(names);
        let rejects_through = last_reject_line(&out.join("rejects.csv"))?;
        let mut history = earlier.resumes;
        history.push(ResumeRecord {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            previous_started_at: earlier.started_at,
            previous_state: earlier.state,
            domains_done: domains.len() as u64,
            hosts_done: hosts.len() as u64,
            orphan_hosts: orphans.len() as u64,
            domain_parts: domain_parts.len() as u64,
            host_parts: host_parts.len() as u64,
            discarded_partial_parts: discarded,
        });
        Ok(Resume {
            domains: Arc::new(domains),
            hosts: Arc::new(hosts),
            orphans,
            domain_parts: next_part(&domain_parts),
            host_parts: next_part(&host_parts),
            recipient_parts: next_part(&recipient_parts),
            rejects_through,
            history,
            input: Some(now),
        })
    }

    /// The input's fingerprint for run.json: the one [`Resume::load`] checked, else (a scan not
    /// resumed) the input's now. None for an input that is not a file.
    pub fn input(&self, targets: &Targets) -> Result<Option<InputFingerprint>, ScanError> {
        if let Some(checked) = &self.input {
            return Ok(checked.clone());
        }
        let source = InputSource::of(targets).map_err(|source| ScanError::Input {
            path: targets.input().to_string(),
            source,
        })?;
        Ok(source.fingerprint().cloned())
    }
}

fn col_err(path: &Path, column: &str) -> ResumeError {
    ResumeError::Column {
        path: path.to_path_buf(),
        column: column.to_string(),
    }
}

fn strings<'a>(
    batch: &'a arrow_array::RecordBatch,
    i: usize,
    path: &Path,
    column: &'static str,
) -> Result<&'a StringArray, ResumeError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| col_err(path, column))
}

/// The exchange of a domain with one MX host. With several, which of them an address belongs to
/// is not in the row: the SMTP stage then names the host as an address scan does (its
/// forward-confirmed PTR name) rather than guess.
fn sole_exchange(mx: &ListArray, row: usize) -> Option<String> {
    if mx.is_null(row) {
        return None;
    }
    let list = mx.value(row);
    let s = list.as_any().downcast_ref::<StructArray>()?;
    let ex = s.column_by_name("exchange")?;
    let ex = ex.as_any().downcast_ref::<StringArray>()?;
    let mut names: Vec<&str> = (0..ex.len())
        .filter(|&j| !ex.is_null(j))
        .map(|j| ex.value(j))
        .collect();
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// The finished parts of a table, in order; hidden temporary parts (a write cut by the kill)
/// are removed and counted.
fn parts(dir: &Path, discarded: &mut u64) -> Result<Vec<PathBuf>, ResumeError> {
    let io = |source| ResumeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io(e)),
    };
    for e in entries {
        let path = e.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with(".part-") && name.ends_with(".parquet.tmp") {
            fs::remove_file(&path).map_err(io)?;
            *discarded += 1;
        } else if part_number(name).is_some() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn part_number(name: &str) -> Option<u64> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

fn next_part(parts: &[PathBuf]) -> u64 {
    parts
        .iter()
        .filter_map(|p| part_number(p.file_name()?.to_str()?))
        .max()
        .map_or(0, |n| n + 1)
}

fn read_column(
    path: &Path,
    columns: &[&str],
    mut each: impl FnMut(&arrow_array::RecordBatch) -> Result<(), ResumeError>,
) -> Result<(), ResumeError> {
    let part = |source| ResumeError::Part {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(part)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder.with_projection(mask).build().map_err(part)?;
    for batch in reader {
        let batch = batch.map_err(|e| part(e.into()))?;
        // A projection keeps the file's column order: reorder to the order asked.
        let schema = batch.schema();
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| schema.index_of(c).map_err(|_| col_err(path, c)))
            .collect::<Result<_, _>>()?;
        let batch = batch.project(&idx).map_err(|e| part(e.into()))?;
        each(&batch)?;
    }
    Ok(())
}

/// The highest line number in rejects.csv. The file was written line by line from the start of
/// the input, so every reject up to it is already there. A last line cut by the kill is removed
/// so the file stays valid CSV.
fn last_reject_line(path: &Path) -> Result<u64, ResumeError> {
    let io = |source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        let f = fs::OpenOptions::new().write(true).open(path).map_err(io)?;
        f.set_len(whole as u64).map_err(io)?;
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(&bytes[..whole]);
    let mut last = 0;
    for rec in r.records().flatten() {
        if let Some(n) = rec.get(0).and_then(|s| s.parse::<u64>().ok()) {
            last = last.max(n);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_domains_answer_membership() {
        let d =
            DoneDomains::from_names(["a.example".into(), "b.example".into(), "a.example".into()]);
        assert_eq!(d.len(), 2);
        for (name, done) in [
            ("a.example", true),
            ("b.example", true),
            ("c.example", false),
        ] {
            assert_eq!(d.contains(name), done, "{name}");
        }
    }

    #[test]
    fn part_names_and_numbering() {
        for (name, n) in [
            ("part-00000.parquet", Some(0)),
            ("part-00042.parquet", Some(42)),
            ("part-123456.parquet", Some(123456)),
            (".part-00003.parquet.tmp", None),
            ("part-x.parquet", None),
            ("notes.txt", None),
        ] {
            assert_eq!(part_number(name), n, "{name}");
        }
        let ps = [
            PathBuf::from("d/part-00000.parquet"),
            PathBuf::from("d/part-00007.parquet"),
        ];
        assert_eq!(next_part(&ps), 8);
        assert_eq!(next_part(&[]), 0);
    }

    #[test]
    fn inputs_are_files_streams_or_inline_lists() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        fs::write(at("abc.txt"), "abc").unwrap();
        fs::write(at("empty.txt"), "").unwrap();
        let fifo = std::ffi::CString::new(at("fifo")).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // Digests as `sha256sum` prints them (FIPS 180-2's "abc" example; the empty input).
        let file = |bytes, sha256: &str| {
            InputSource::File(InputFingerprint {
                bytes,
                sha256: sha256.into(),
            })
        };
        let abc = file(
            3,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        for (targets, want) in [
            (Targets::Domains("-".into()), InputSource::Stream),
            (Targets::Domains(at("abc.txt")), abc.clone()),
            (
                Targets::Domains(at("empty.txt")),
                file(
                    0,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
            ),
            // Hashing a pipe would eat the input the scan is about to read.
            (Targets::Domains(at("fifo")), InputSource::Stream),
            (Targets::Ips(at("abc.txt")), abc),
            (
                Targets::Ips("192.0.2.0/24,198.51.100.7".into()),
                InputSource::Inline,
            ),
        ] {
            assert_eq!(InputSource::of(&targets).unwrap(), want, "{targets:?}");
            assert_eq!(
                is_stream(&targets),
                want == InputSource::Stream,
                "{targets:?}"
            );
        }
        let missing = Targets::Domains(at("none.txt"));
        assert_eq!(
            InputSource::of(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(!is_stream(&missing), "a missing file fails as itself");
    }

    #[test]
    fn a_file_over_the_read_buffer_hashes_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.txt");
        // 3.5 buffers of distinct lines: a chunk lost or repeated changes the digest.
        let data: Vec<u8> = (0..)
            .flat_map(|i| format!("domain-{i}.example\n").into_bytes())
            .take(7 << 19)
            .collect();
        fs::write(&p, &data).unwrap();
        let whole = ring::digest::digest(&ring::digest::SHA256, &data);
        let hex: String = whole.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            InputFingerprint::of_file(&p).unwrap(),
            InputFingerprint {
                bytes: data.len() as u64,
                sha256: hex
            }
        );
    }

    #[test]
    fn the_input_must_be_the_one_the_scan_started_on() {
        let fp = |bytes, sha256: &str| {
            Some(InputFingerprint {
                bytes,
                sha256: sha256.into(),
            })
        };
        // (was, now, Ok or the error's first words)
        for (was, now, want) in [
            (fp(3, "aa"), fp(3, "aa"), None),
            (None, None, None),
            (fp(3, "aa"), fp(3, "bb"), Some("changed")),
            (fp(3, "aa"), fp(4, "aa"), Some("changed")),
            (fp(3, "aa"), None, Some("changed")),
            (None, fp(3, "aa"), Some("not recorded")),
        ] {
            let got = check_input(Path::new("out"), "list.txt", was.clone(), now.clone());
            let what = format!("{was:?} -> {now:?}");
            match (got, want) {
                (Ok(()), None) => {}
                (Err(ResumeError::InputChanged { .. }), Some("changed")) => {}
                (Err(ResumeError::InputNotRecorded { .. }), Some("not recorded")) => {}
                (got, want) => panic!("{what}: {got:?}, want {want:?}"),
            }
        }
        let e = check_input(Path::new("out"), "list.txt", fp(3, "aa"), fp(4, "bb")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--resume: the input list.txt is not the one the scan in out started on (3 bytes, \
             SHA-256 aa then, 4 bytes, SHA-256 bb now): the rows written would not match its \
             lines; resume with the file as it was, or scan it into another --out"
        );
    }

    #[test]
    fn the_earlier_input_is_read_from_run_json() {
        let base = r#""targets":"domains","input":"l.txt","shard":"0/1","seed":0,"started_at":"t","state":"running""#;
        for (extra, want) in [
            // An mxray older than the check wrote neither field.
            ("", None),
            (r#","input_bytes":null,"input_sha256":null"#, None),
            (
                r#","input_bytes":3,"input_sha256":"aa""#,
                Some(InputFingerprint {
                    bytes: 3,
                    sha256: "aa".into(),
                }),
            ),
        ] {
            let e: Earlier = serde_json::from_str(&format!("{{{base}{extra}}}")).unwrap();
            assert_eq!(e.input(), want, "{extra}");
        }
    }

    #[test]
    fn stdin_is_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ScanOptions {
            targets: Targets::Domains("-".into()),
            // Nothing there: a refusal that looked first would say NoManifest.
            out: dir.path().join("none"),
            resume: true,
            ..ScanOptions::default()
        };
        let e = Resume::load(&opts).unwrap_err();
        assert!(matches!(e, ResumeError::Stream { .. }), "{e:?}");
        assert!(e.to_string().contains("stdin"), "{e}");
    }

    #[test]
    fn rejects_are_read_to_their_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rejects.csv");
        for (text, last, kept) in [
            ("line,text,reason\n", 0, "line,text,reason\n"),
            (
                "line,text,reason\n3,bad,x\n17,\"a,b\",y\n",
                17,
                "line,text,reason\n3,bad,x\n17,\"a,b\",y\n",
            ),
            (
                "line,text,reason\n3,bad,x\n17,\"a,b",
                3,
                "line,text,reason\n3,bad,x\n",
            ),
        ] {
            fs::write(&p, text).unwrap();
            assert_eq!(last_reject_line(&p).unwrap(), last, "{text:?}");
            assert_eq!(fs::read_to_string(&p).unwrap(), kept);
        }
        assert_eq!(last_reject_line(&dir.path().join("none.csv")).unwrap(), 0);
    }
}
