//! A table writer: rows arrive over a bounded channel; every flush interval (or row cap) the buffered
//! rows become one Parquet part file and/or lines appended to the table's CSV.

use std::fs::{self, File};
use std::io::{self, BufWriter};
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
    pub parts: u64,
}

struct Files {
    dir: PathBuf,
    parquet: bool,
    csv: Option<csv::Writer<BufWriter<File>>>,
    props: WriterProperties,
    stats: WriterStats,
    /// The next part's number (after an earlier scan's parts when resuming).
    next_part: u64,
    /// The first part this writer wrote.
    first_part: u64,
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
        let missing: Vec<String> = (self.first_part..self.next_part)
            .map(|n| format!("part-{n:05}.parquet"))
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
            first_part: resume_at.unwrap_or(0),
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
            return Ok(files.stats.clone());
        }
    }
}
