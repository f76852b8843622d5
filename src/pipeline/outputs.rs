//! What a scan writes: the output directory, its tables' writers, and run.json (as a checkpoint
//! while the scan runs, and at the end).

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::resume::{Resume, ResumeRecord};
use super::stage::StageStats;
use super::{ManifestInput, RunManifest, ScanError, ScanOptions, ScanStats};
use crate::dns::Resolver;
use crate::output::{
    DomainRow, HostRow, RecipientRow, Table, TableWriter, WriterStats, WrittenSoFar,
};

/// Creates `out`, or empties it of an earlier scan's results when `overwrite` says so.
pub(super) fn prepare_out(out: &Path, overwrite: bool) -> Result<(), ScanError> {
    let err = |source| ScanError::Output {
        path: out.to_path_buf(),
        source,
    };
    fs::create_dir_all(out).map_err(err)?;
    if !out.join("run.json").exists() {
        return Ok(());
    }
    if !overwrite {
        return Err(ScanError::OutputNotEmpty(out.to_path_buf()));
    }
    for table in [DomainRow::NAME, HostRow::NAME, RecipientRow::NAME] {
        if out.join(table).exists() {
            fs::remove_dir_all(out.join(table)).map_err(err)?;
        }
        let csv = out.join(format!("{table}.csv"));
        if csv.exists() {
            fs::remove_file(csv).map_err(err)?;
        }
    }
    for f in ["rejects.csv", "run.json"] {
        if out.join(f).exists() {
            fs::remove_file(out.join(f)).map_err(err)?;
        }
    }
    Ok(())
}

type Done = JoinHandle<io::Result<WriterStats>>;

/// The tables' writers. A writer ends once every sender of it is gone (the stages' sinks hold
/// clones), and [`Outputs::finish`] waits for that.
pub(super) struct Outputs {
    pub domains: TableWriter<DomainRow>,
    pub hosts: TableWriter<HostRow>,
    /// The recipient tests' long table, with `--smtp-recipients`.
    pub recipients: Option<TableWriter<RecipientRow>>,
    done: Vec<(&'static str, WrittenSoFar, Done)>,
}

/// The file in OUT that holds [`RESERVE_BYTES`] for the final run.json while a scan runs.
const RESERVE: &str = ".run.json.reserve";
/// A manifest is a few KB; this leaves room for a large one.
const RESERVE_BYTES: usize = 64 * 1024;

impl Outputs {
    /// Starts the writers (continuing a resumed scan's part numbering). A writer that fails
    /// cancels `on_error`, so the scan stops taking targets.
    pub fn open(
        opts: &ScanOptions,
        resume: &Resume,
        recipients: bool,
        on_error: &CancellationToken,
    ) -> Result<Outputs, ScanError> {
        let out_err = |source| ScanError::Output {
            path: opts.out.clone(),
            source,
        };
        // Room kept for the last run.json: a disk that fills up mid-scan still gets a manifest
        // that says so (the reserve is given back just before it is written).
        let reserve = opts.out.join(RESERVE);
        fs::write(&reserve, vec![0u8; RESERVE_BYTES]).map_err(out_err)?;
        let mut done = Vec::new();
        let domains = open_table::<DomainRow>(opts, resume.domain_parts, on_error, &mut done)
            .map_err(out_err)?;
        let hosts =
            open_table::<HostRow>(opts, resume.host_parts, on_error, &mut done).map_err(out_err)?;
        let recipients = recipients
            .then(|| open_table::<RecipientRow>(opts, resume.recipient_parts, on_error, &mut done))
            .transpose()
            .map_err(out_err)?;
        Ok(Outputs {
            domains,
            hosts,
            recipients,
            done,
        })
    }

    /// Each table's counts so far, for the checkpoints.
    pub fn written(&self) -> Vec<(&'static str, WrittenSoFar)> {
        self.done.iter().map(|(t, w, _)| (*t, w.clone())).collect()
    }

    /// Waits for the writers (the stages must have ended). A writer that failed cancelled the
    /// scan; the other tables are still flushed, and the first error is returned beside the
    /// counts so run.json can say what happened.
    pub async fn finish(self) -> (Vec<(&'static str, WriterStats)>, Option<ScanError>) {
        let Outputs {
            domains,
            hosts,
            recipients,
            done,
            ..
        } = self;
        // A writer ends once every sender of it is gone: these are the last.
        drop((domains, hosts, recipients));
        let mut written = Vec::new();
        let mut error = None;
        for (table, live, done) in done {
            match done.await.map_err(io::Error::other).and_then(|r| r) {
                Ok(w) => written.push((table, w)),
                Err(source) => {
                    written.push((table, live.get()));
                    error.get_or_insert(ScanError::Write { table, source });
                }
            }
        }
        (written, error)
    }

    /// Gives the reserved room back, for the last run.json.
    pub fn release_reserve(out: &Path) {
        let _ = fs::remove_file(out.join(RESERVE));
    }
}

fn open_table<R: Table>(
    opts: &ScanOptions,
    parts: u64,
    on_error: &CancellationToken,
    done: &mut Vec<(&'static str, WrittenSoFar, Done)>,
) -> io::Result<TableWriter<R>> {
    let resume_at = opts.resume.then_some(parts);
    let (w, d) = TableWriter::<R>::open(&opts.out, &opts.writer, resume_at, on_error.clone())?;
    done.push((R::NAME, w.written(), d));
    Ok(w)
}

/// What run.json is built from, shared by the checkpoints and the final write.
#[derive(Clone)]
pub(super) struct Manifest {
    pub opts: Arc<ScanOptions>,
    pub started: chrono::DateTime<chrono::Utc>,
    pub t0: Instant,
    pub stats: Arc<ScanStats>,
    pub resolver: Resolver,
    pub stages: Vec<Arc<StageStats>>,
    pub resumes: Arc<Vec<ResumeRecord>>,
}

/// How a scan ended, for the final run.json.
pub(super) struct Ending {
    pub interrupted: bool,
    pub signal: Option<String>,
    pub input_error: Option<String>,
    pub error: Option<String>,
    pub tables: Vec<(&'static str, WriterStats)>,
}

impl Manifest {
    /// The last run.json: `failed` after a write error, else `interrupted` or `done`.
    pub fn ended(&self, end: Ending) -> RunManifest {
        let state = match &end {
            e if e.error.is_some() => "failed",
            e if e.interrupted => "interrupted",
            _ => "done",
        };
        self.build(state, end)
    }

    /// A checkpoint's run.json: the counts so far.
    fn running(&self, written: &[(&'static str, WrittenSoFar)]) -> RunManifest {
        let end = Ending {
            interrupted: false,
            signal: None,
            input_error: None,
            error: None,
            tables: written.iter().map(|(t, w)| (*t, w.get())).collect(),
        };
        self.build("running", end)
    }

    fn build(&self, state: &'static str, end: Ending) -> RunManifest {
        RunManifest::build(ManifestInput {
            opts: &self.opts,
            started: self.started,
            elapsed: self.t0.elapsed(),
            state,
            interrupted: end.interrupted,
            signal: end.signal,
            stats: &self.stats,
            input_error: end.input_error,
            error: end.error,
            resolver: &self.resolver,
            tables: end.tables,
            stages: self.stages.iter().map(|s| s.report()).collect(),
            resumes: &self.resumes,
        })
    }

    /// Writes run.json now and every `every` while the scan runs. A failed checkpoint is not
    /// worth stopping the scan for: the final write reports its error.
    pub fn checkpoints(
        &self,
        written: Vec<(&'static str, WrittenSoFar)>,
        every: Duration,
    ) -> Result<JoinHandle<()>, ScanError> {
        let out = self.opts.out.clone();
        write_manifest(&out, &self.running(&written)).map_err(|source| ScanError::Write {
            table: "run.json",
            source,
        })?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let _ = write_manifest(&out, &this.running(&written));
            }
        }))
    }
}

/// Writes run.json atomically: a temporary file renamed over it, so a reader (or a crash) only
/// ever sees a whole manifest.
pub(super) fn write_manifest(out: &Path, manifest: &RunManifest) -> io::Result<()> {
    let tmp = out.join(".run.json.tmp");
    let mut f = BufWriter::new(File::create(&tmp)?);
    serde_json::to_writer_pretty(&mut f, manifest)?;
    io::Write::flush(&mut f)?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(tmp, out.join("run.json"))
}
