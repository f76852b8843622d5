//! `--resume`: go on with a scan whose process was killed or stopped, in the same output
//! directory, with the same input, shard and seed.
//!
//! What is done is read from the scan's own Parquet parts (a visible part is always whole: it is
//! written under a hidden name and renamed once closed), not from run.json, whose last checkpoint
//! may be seconds older than the parts. Targets with a row are skipped, the MX addresses of done
//! domains that have no hosts row yet (in flight when the scan died) are checked first, and new
//! parts continue the numbering, so the union of the parts holds every target exactly once.

use std::collections::HashSet;
use std::fs::{self, File};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ListArray, StringArray, StructArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::smtp::Via;
use super::{ScanOptions, Targets};

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
}

impl Resume {
    /// Reads `opts.out`: its run.json (which must match `opts`), its parts and rejects.csv.
    pub fn load(opts: &ScanOptions) -> Result<Resume, ResumeError> {
        let out = &opts.out;
        if !opts.writer.formats.parquet {
            return Err(ResumeError::NeedsParquet);
        }
        let manifest = out.join("run.json");
        let text = match fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ResumeError::NoManifest(out.clone()));
            }
            Err(source) => {
                return Err(ResumeError::Io {
                    path: manifest,
                    source,
                });
            }
        };
        let earlier: Earlier =
            serde_json::from_str(&text).map_err(|source| ResumeError::BadManifest {
                path: manifest.clone(),
                source,
            })?;
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
        mismatch(
            "targets",
            earlier.targets.clone(),
            opts.targets.kind().into(),
        )?;
        mismatch("input", earlier.input.clone(), opts.targets.input().into())?;
        mismatch("shard", earlier.shard.clone(), opts.shard.to_string())?;
        mismatch("seed", earlier.seed.to_string(), opts.seed.to_string())?;

        let mut discarded = 0;
        for table in ["domains", "hosts", "recipients"] {
            // A compaction a kill cut short: finish it, so no row is read twice.
            let dir = out.join(table);
            crate::output::writer::settle_compaction(&dir)
                .map_err(|source| ResumeError::Io { path: dir, source })?;
        }
        let domain_parts = parts(&out.join("domains"), &mut discarded)?;
        let host_parts = parts(&out.join("hosts"), &mut discarded)?;
        // The recipient rows of batches a kill cut short are not asked again: the domains are
        // done (their rows are in the domains table), and the table says what was asked.
        let recipient_parts = parts(&out.join("recipients"), &mut discarded)?;
        let mut hosts = HashSet::with_hasher(ahash::RandomState::new());
        for p in &host_parts {
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
        let mut names = Vec::new();
        let mut orphans = Vec::new();
        let mut seen_orphans = HashSet::with_hasher(ahash::RandomState::new());
        let domain_scan = matches!(opts.targets, Targets::Domains(_));
        for p in &domain_parts {
            read_column(p, &["domain", "mx", "mx_ips", "soa_rname"], |batch| {
                let domain = strings(batch, 0, p, "domain")?;
                let mx = batch
                    .column(1)
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .ok_or_else(|| col_err(p, "mx"))?;
                let mx_ips = batch
                    .column(2)
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .ok_or_else(|| col_err(p, "mx_ips"))?;
                let soa = strings(batch, 3, p, "soa_rname")?;
                for i in 0..batch.num_rows() {
                    names.push(domain.value(i).to_string());
                    if !domain_scan || !opts.host_checks || mx_ips.is_null(i) {
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
        })
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
