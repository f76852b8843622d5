//! A table writer: rows arrive over a bounded channel; every flush interval (or row cap) the buffered
//! rows become one Parquet part file and/or lines appended to the table's CSV.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::sync::Arc;
use tokio::sync::mpsc;

use super::columns::{Row, to_batch};

/// Which files a scan writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub parquet: bool,
    pub csv: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats {
            parquet: true,
            csv: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub formats: Formats,
    /// Buffered rows are written at least this often. Default 5 s.
    pub flush_interval: Duration,
    /// ... or as soon as this many rows are buffered. Default 10,000: a buffered domain row with
    /// its Arrow copy costs a few KB, so 50,000 held ~150 MB at a fast scan's flush.
    pub max_rows: usize,
    /// Rows waiting in the channel before senders wait (backpressure). Default 4096.
    pub channel: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            formats: Formats::default(),
            flush_interval: Duration::from_secs(5),
            max_rows: 10_000,
            channel: 4096,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WriterStats {
    pub rows: u64,
    /// Parts in the table from this run (after compaction).
    pub parts: u64,
    /// Small parts merged into larger ones when the writer ended.
    pub compacted: u64,
}

struct Files {
    dir: PathBuf,
    parquet: bool,
    csv: Option<csv::Writer<BufWriter<File>>>,
    props: WriterProperties,
    stats: WriterStats,
    /// The next part's number (after an earlier scan's parts when resuming).
    next_part: u64,
    /// The number and row count of each part this writer wrote, in order.
    written: Vec<(u64, usize)>,
}

impl Files {
    fn write<R: Row>(&mut self, rows: &[R]) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.parquet {
            let batch = to_batch(rows).map_err(io::Error::other)?;
            let name = format!("part-{:05}.parquet", self.next_part);
            let tmp = self.dir.join(format!(".{name}.tmp"));
            let written = (|| {
                let file = File::create(&tmp)?;
                let mut w = ArrowWriter::try_new(file, batch.schema(), Some(self.props.clone()))
                    .map_err(io::Error::other)?;
                w.write(&batch).map_err(io::Error::other)?;
                w.close().map_err(io::Error::other)?;
                fs::rename(&tmp, self.dir.join(&name))
            })();
            if let Err(e) = written {
                // A part cut short by a full disk is not a part: take it back, which also gives
                // its space back to run.json, written next with what happened.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            self.stats.parts += 1;
            self.written.push((self.next_part, rows.len()));
            self.next_part += 1;
        }
        if let Some(csv) = &mut self.csv {
            for r in rows {
                csv.write_record(r.csv_record()).map_err(io::Error::other)?;
            }
            csv.flush()?;
        }
        self.stats.rows += rows.len() as u64;
        Ok(())
    }

    /// Every part this writer wrote is still there: one removed under the running scan took
    /// its rows with it, which the scan must say rather than report them written.
    fn check_parts(&self) -> io::Result<()> {
        if !self.parquet {
            return Ok(());
        }
        let missing: Vec<String> = (self.written.iter())
            .map(|(n, _)| format!("part-{n:05}.parquet"))
            .filter(|name| !self.dir.join(name).exists())
            .collect();
        match missing.first() {
            None => Ok(()),
            Some(first) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} part(s) written by this scan were removed while it ran ({first}, ...): their rows are lost; --resume scans them again",
                    missing.len()
                ),
            )),
        }
    }
}

/// The journal of one compaction: `.compact-N` holds the inode of the merged file that becomes
/// part N (the group's first part, replaced in place so the table keeps its row order), then the
/// other parts it replaces, one name a line. It exists from before the merged file is renamed
/// into place until those parts are gone, so whoever finds one (a resumed scan,
/// [`settle_compaction`]) knows whether part N already holds their rows.
fn journal_name(n: u64) -> String {
    format!(".compact-{n:05}")
}

/// Finishes or undoes a compaction a kill interrupted in `dir`: where part N is the merged file
/// (its inode is the journal's), the parts it replaces are removed; where it is not, the journal
/// is dropped (the old parts are all still there). Returns the parts removed.
pub fn settle_compaction(dir: &Path) -> io::Result<u64> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for e in entries {
        let path = e?.path();
        let Some(n) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(".compact-"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let journal = fs::read_to_string(&path)?;
        let mut lines = journal.lines();
        let inode = lines.next().and_then(|l| l.parse::<u64>().ok());
        let part = fs::metadata(dir.join(format!("part-{n:05}.parquet")));
        if inode.is_some() && part.is_ok_and(|m| Some(m.ino()) == inode) {
            for old in lines {
                // Names only, never a path: the journal cannot point outside the table.
                if old.starts_with("part-") && !old.contains('/') && dir.join(old).exists() {
                    fs::remove_file(dir.join(old))?;
                    removed += 1;
                }
            }
        }
        fs::remove_file(&path)?;
    }
    Ok(removed)
}

impl Files {
    /// Merges runs of this writer's small parts (a slow scan flushes a few rows every interval)
    /// into parts of up to `target` rows, in row order, so a long scan leaves tens of parts, not
    /// thousands. Every flush stays readable within the flush interval while the scan runs (a
    /// Parquet file is readable once its footer is written, so parts are not kept open); this
    /// runs once, when the writer ends. A merged part takes its group's first number, and a journal makes
    /// the swap safe against a kill (see [`settle_compaction`]).
    fn compact(&mut self, target: usize) -> io::Result<()> {
        if !self.parquet {
            return Ok(());
        }
        let mut groups: Vec<Vec<(u64, usize)>> = Vec::new();
        let mut group: Vec<(u64, usize)> = Vec::new();
        let mut rows = 0;
        for &(n, r) in &self.written {
            if rows + r > target && !group.is_empty() {
                groups.push(std::mem::take(&mut group));
                rows = 0;
            }
            group.push((n, r));
            rows += r;
        }
        groups.push(group);
        let mut kept = Vec::new();
        for g in groups {
            if g.len() < 2 {
                kept.extend(g);
                continue;
            }
            let n = g[0].0;
            if !self.merge(&g, n, target)? {
                // Not merged (no room on the disk, say): the small parts stay, all whole.
                kept.extend(g);
                continue;
            }
            self.stats.compacted += g.len() as u64;
            kept.push((n, g.iter().map(|(_, r)| r).sum()));
        }
        self.written = kept;
        Ok(())
    }

    /// Writes `group`'s rows as part `n` (the group's first, replaced in place) and removes the
    /// group's other parts. False when the merged part could not be written (the group's parts
    /// are untouched); an error once the swap has begun, which the journal lets a resumed scan
    /// finish.
    fn merge(&self, group: &[(u64, usize)], n: u64, target: usize) -> io::Result<bool> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let name = format!("part-{n:05}.parquet");
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let old: Vec<String> = group
            .iter()
            .map(|(m, _)| format!("part-{m:05}.parquet"))
            .collect();
        let merged = (|| {
            let props = self
                .props
                .clone()
                .into_builder()
                .set_max_row_group_row_count(Some(target.max(1)))
                .build();
            let mut w: Option<ArrowWriter<File>> = None;
            for o in &old {
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(File::open(self.dir.join(o))?)
                        .map_err(io::Error::other)?
                        .build()
                        .map_err(io::Error::other)?;
                for batch in reader {
                    let batch = batch.map_err(io::Error::other)?;
                    if w.is_none() {
                        w = Some(
                            ArrowWriter::try_new(
                                File::create(&tmp)?,
                                batch.schema(),
                                Some(props.clone()),
                            )
                            .map_err(io::Error::other)?,
                        );
                    }
                    if let Some(w) = w.as_mut() {
                        w.write(&batch).map_err(io::Error::other)?;
                    }
                }
            }
            match w {
                Some(w) => w.close().map(|_| ()).map_err(io::Error::other),
                None => Err(io::Error::other("compaction found no rows")),
            }
        })();
        let journal = self.dir.join(journal_name(n));
        let entry = |inode: u64| format!("{inode}\n{}", old[1..].join("\n"));
        let journaled = merged
            .and_then(|()| fs::metadata(&tmp))
            .and_then(|m| fs::write(&journal, entry(m.ino())));
        if journaled.is_err() {
            // The small parts are untouched: nothing is lost, the table stays as it was.
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&journal);
            return Ok(false);
        }
        fs::rename(&tmp, self.dir.join(&name))?;
        for o in &old[1..] {
            fs::remove_file(self.dir.join(o))?;
        }
        fs::remove_file(journal)?;
        Ok(true)
    }
}

/// Removes a last line a kill cut short, so appended records start on a line of their own;
/// returns the length kept.
fn cut_to_last_line(file: &File) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut f = file;
    let mut keep = len;
    let mut buf = [0u8; 4096];
    while keep > 0 {
        let start = keep.saturating_sub(buf.len() as u64);
        let n = (keep - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                keep = start + i as u64 + 1;
                break;
            }
            None => keep = start,
        }
    }
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(keep)
}

/// The sending side; dropping every clone ends the writer, which flushes what is left.
/// A row type with a table of its own in the output directory: `OUT/NAME/part-*.parquet` and
/// `OUT/NAME.csv`. The name is said here once; the scan, `--overwrite`, `--resume` and the
/// report take it from the row type.
pub trait Table: Row {
    const NAME: &'static str;
}

impl Table for super::DomainRow {
    const NAME: &'static str = "domains";
}

impl Table for super::HostRow {
    const NAME: &'static str = "hosts";
}

impl Table for super::RecipientRow {
    const NAME: &'static str = "recipients";
}

pub struct TableWriter<R> {
    tx: mpsc::Sender<R>,
    live: Arc<Mutex<WriterStats>>,
}

impl<R> Clone for TableWriter<R> {
    fn clone(&self) -> Self {
        TableWriter {
            tx: self.tx.clone(),
            live: self.live.clone(),
        }
    }
}

/// What a table's writer has written so far, readable while it runs (run.json's checkpoints).
#[derive(Clone, Default)]
pub struct WrittenSoFar(Arc<Mutex<WriterStats>>);

impl WrittenSoFar {
    pub fn get(&self) -> WriterStats {
        self.0.lock().clone()
    }
}

impl<R: Row> TableWriter<R> {
    /// Creates `OUT/<table>/` (Parquet parts) and `OUT/<table>.csv` as asked, and starts the
    /// writer task. Its handle yields the counts once every sender is gone. `resume_at` goes on
    /// with an earlier scan's table: parts are numbered from it and the CSV is appended to
    /// (its header is already there). A write that fails (disk full, the directory removed)
    /// ends the writer with the error and cancels `on_error`, so the scan stops taking
    /// targets instead of scanning on for rows it cannot keep.
    /// [`TableWriter::start`] for a [`Table`], under its own name.
    pub fn open(
        out: &Path,
        opts: &WriterOptions,
        resume_at: Option<u64>,
        on_error: tokio_util::sync::CancellationToken,
    ) -> io::Result<(
        TableWriter<R>,
        tokio::task::JoinHandle<io::Result<WriterStats>>,
    )>
    where
        R: Table,
    {
        Self::start(out, R::NAME, opts, resume_at, on_error)
    }

    pub fn start(
        out: &Path,
        table: &str,
        opts: &WriterOptions,
        resume_at: Option<u64>,
        on_error: tokio_util::sync::CancellationToken,
    ) -> io::Result<(
        TableWriter<R>,
        tokio::task::JoinHandle<io::Result<WriterStats>>,
    )> {
        let dir = out.join(table);
        if opts.formats.parquet {
            fs::create_dir_all(&dir)?;
        }
        let csv_path = out.join(format!("{table}.csv"));
        let csv = match (opts.formats.csv, resume_at) {
            (false, _) => None,
            (true, Some(_)) if csv_path.exists() => {
                let file = fs::OpenOptions::new()
                    .read(true)
                    .append(true)
                    .open(&csv_path)?;
                let empty = cut_to_last_line(&file)? == 0;
                let mut w = csv::Writer::from_writer(BufWriter::new(file));
                if empty {
                    w.write_record(R::columns().iter().map(|c| c.name))
                        .map_err(io::Error::other)?;
                }
                Some(w)
            }
            (true, _) => {
                let mut w = csv::Writer::from_writer(BufWriter::new(File::create(&csv_path)?));
                w.write_record(R::columns().iter().map(|c| c.name))
                    .map_err(io::Error::other)?;
                w.flush()?;
                Some(w)
            }
        };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_created_by(format!("mxray {}", env!("CARGO_PKG_VERSION")))
            .build();
        let files = Files {
            dir,
            parquet: opts.formats.parquet,
            csv,
            props,
            stats: WriterStats::default(),
            next_part: resume_at.unwrap_or(0),
            written: Vec::new(),
        };
        let (tx, rx) = mpsc::channel(opts.channel.max(1));
        let live = Arc::new(Mutex::new(WriterStats::default()));
        let handle = tokio::spawn(run(
            rx,
            files,
            opts.flush_interval,
            opts.max_rows.max(1),
            live.clone(),
            on_error,
        ));
        Ok((TableWriter { tx, live }, handle))
    }

    /// A handle on the counts written so far.
    pub fn written(&self) -> WrittenSoFar {
        WrittenSoFar(self.live.clone())
    }

    /// Queues a row, waiting while the writer is behind. False when the writer has stopped
    /// (after an I/O error, which its handle reports).
    pub async fn send(&self, row: R) -> bool {
        self.tx.send(row).await.is_ok()
    }
}

async fn run<R: Row>(
    mut rx: mpsc::Receiver<R>,
    mut files: Files,
    interval: Duration,
    max_rows: usize,
    live: Arc<Mutex<WriterStats>>,
    on_error: tokio_util::sync::CancellationToken,
) -> io::Result<WriterStats> {
    let mut buf: Vec<R> = Vec::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let closed = tokio::select! {
            row = rx.recv() => match row {
                Some(r) => {
                    buf.push(r);
                    if buf.len() < max_rows {
                        continue;
                    }
                    false
                }
                None => true,
            },
            _ = tick.tick() => false,
        };
        if !buf.is_empty() {
            let rows = std::mem::take(&mut buf);
            // Encoding and compression are CPU work: keep them off the runtime's workers.
            let (f, result) = tokio::task::spawn_blocking(move || {
                let r = files.write(&rows);
                (files, r)
            })
            .await
            .map_err(io::Error::other)?;
            files = f;
            if let Err(e) = result {
                on_error.cancel();
                return Err(e);
            }
            *live.lock() = files.stats.clone();
        }
        if closed {
            files.check_parts()?;
            let (mut files, result) = tokio::task::spawn_blocking(move || {
                let r = files.compact(max_rows);
                (files, r)
            })
            .await
            .map_err(io::Error::other)?;
            result?;
            files.stats.parts = files.written.len() as u64;
            return Ok(files.stats.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::columns::{ColType, Column, Value};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    struct N(u32);

    impl Row for N {
        fn columns() -> &'static [Column<Self>] {
            static COLUMNS: &[Column<N>] =
                &[Column::new("n", ColType::UInt32, |r: &N| Value::U32(Some(r.0))).required()];
            COLUMNS
        }
    }

    /// Every part's `n` values, part by part in name order, and the names.
    fn table(dir: &Path) -> (Vec<String>, Vec<u32>) {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut values = Vec::new();
        for name in &names {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join(name)).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            for b in reader {
                let b = b.unwrap();
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow_array::UInt32Array>()
                    .unwrap();
                values.extend(col.values().iter().copied());
            }
        }
        (names, values)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_scan_s_small_parts_are_merged_when_the_writer_ends() {
        let out = tempfile::tempdir().unwrap();
        let opts = WriterOptions {
            flush_interval: Duration::from_millis(5),
            max_rows: 100,
            ..WriterOptions::default()
        };
        let token = tokio_util::sync::CancellationToken::new();
        let (w, done) = TableWriter::<N>::start(out.path(), "t", &opts, None, token).unwrap();
        // A row every few flush intervals: one small part each, as a slow scan makes them.
        for n in 0..30 {
            assert!(w.send(N(n)).await);
            tokio::time::sleep(Duration::from_millis(12)).await;
        }
        // Then a fast stretch: full parts of 100 rows, which stay as they are.
        for n in 30..250 {
            assert!(w.send(N(n)).await);
        }
        let during = fs::read_dir(out.path().join("t")).unwrap().count();
        assert!(
            during > 10,
            "{during} parts while it ran: each flush readable"
        );
        drop(w);
        let stats = done.await.unwrap().unwrap();
        let (names, values) = table(&out.path().join("t"));
        assert_eq!(
            values,
            (0..250).collect::<Vec<_>>(),
            "every row once, in order"
        );
        assert_eq!(stats.rows, 250);
        assert_eq!(stats.parts as usize, names.len(), "{names:?}");
        assert!(names.len() <= 5, "{names:?}");
        assert!(stats.compacted >= 10, "{stats:?}");
        assert!(names.iter().all(|n| n.starts_with("part-")), "{names:?}");
    }

    #[test]
    fn a_compaction_cut_short_is_finished_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet",
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        let ino = |name: &str| fs::metadata(d.join(name)).unwrap().ino();
        // The merged file became part 0 and replaces parts 1 and 2; the kill came before they
        // were removed.
        let entry = format!(
            "{}\npart-00001.parquet\npart-00002.parquet",
            ino("part-00000.parquet")
        );
        fs::write(d.join(journal_name(0)), entry).unwrap();
        // Part 5 is still the old part (the merged file never got there): the journal goes,
        // the parts it lists stay.
        for name in [
            "part-00005.parquet",
            "part-00006.parquet",
            ".part-00005.parquet.tmp",
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        let entry = format!("{}\npart-00006.parquet", ino(".part-00005.parquet.tmp"));
        fs::write(d.join(journal_name(5)), entry).unwrap();
        assert_eq!(settle_compaction(d).unwrap(), 2);
        let mut left: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".part-00005.parquet.tmp",
                "part-00000.parquet",
                "part-00005.parquet",
                "part-00006.parquet"
            ]
        );
    }
}
