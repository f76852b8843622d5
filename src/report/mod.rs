//! `mxray report`: the figures people read first, from the Parquet parts of one scan or of many
//! shards, written as report.md, report.html (self-contained: inline CSS and SVG), report.json
//! (the raw aggregates) and the per-domain bulk-sender readiness table.
//!
//! Layout:
//! - [`columns`]: the columns the report reads, checked against the writer's column tables;
//! - [`read`]: finds the parts, reads the projected columns, turns one part into partial
//!   aggregates (a part still being written is skipped and counted, never an error);
//! - [`aggregate`]: [`Aggregates`], exact counts that merge associatively and commutatively, so
//!   the report of N shards is the report of one unsharded scan;
//! - [`readiness`]: the bulk-sender requirements judged per domain, joined with the hosts;
//! - [`figures`]: aggregates to sections of tables, every share with its denominator;
//! - [`charts`]: SVG charts (plotters' SVG backend: `<text>` elements, no font files);
//! - [`render`]: the sections as Markdown and as HTML (maud).
//!
//! The work is CPU-bound and runs on rayon's pool: never call [`run`] from a tokio worker.

pub mod aggregate;
pub mod charts;
pub mod columns;
pub mod figures;
pub mod read;
pub mod readiness;
pub mod render;

use std::path::{Path, PathBuf};

pub use aggregate::{Aggregates, Counter};
pub use read::Reading;

/// What to report on and where to write it.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Output directories of scans (or of the shards of one scan), merged into one report.
    pub inputs: Vec<PathBuf>,
    /// Where report.md, report.html, report.json and readiness/ go.
    pub out: PathBuf,
    /// Length of the top-N lists (include providers, MX operators, ASes). Default 15.
    pub top: usize,
    /// An AS enters the "top ASes by listing share" list only with at least this many addresses
    /// scanned: a share of 1 of 1 says nothing. Default 10.
    pub min_as_hosts: u64,
}

impl ReportOptions {
    pub fn new(inputs: Vec<PathBuf>) -> ReportOptions {
        let out = inputs
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        ReportOptions {
            inputs,
            out,
            top: 15,
            min_as_hosts: 10,
        }
    }
}

/// A failure that stops the report (a part that cannot be read is not one: it is skipped and
/// counted in [`Reading`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("no input directory given")]
    NoInput,
    #[error(transparent)]
    Columns(#[from] columns::ColumnError),
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("{}: neither domains/ nor hosts/ holds a Parquet part", .0.display())]
    NoParts(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("building the readiness table: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("report.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("drawing chart {chart}: {message}")]
    Chart { chart: String, message: String },
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ReportError {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What [`run`] wrote and read.
#[derive(Debug, Clone)]
pub struct Summary {
    pub aggregates: Aggregates,
    pub reading: Reading,
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
    pub readiness: PathBuf,
}

/// Reads every part under the inputs, aggregates, judges readiness and writes the report.
pub fn run(opts: &ReportOptions) -> Result<Summary, ReportError> {
    if opts.inputs.is_empty() {
        return Err(ReportError::NoInput);
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| ReportError::io(&opts.out, e))?;
    let (aggregates, reading, readiness) = read::read_all(&opts.inputs, &opts.out)?;
    let sections = figures::sections(&aggregates, &reading, opts)?;
    let title = "mxray report";
    let generated_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let markdown = opts.out.join("report.md");
    let md = render::markdown(title, &generated_at, &reading, &sections);
    write_atomic(&markdown, md.as_bytes())?;
    let html = opts.out.join("report.html");
    let page = render::html(title, &generated_at, &reading, &sections);
    write_atomic(&html, page.as_bytes())?;
    let json = opts.out.join("report.json");
    let doc = serde_json::json!({
        "tool": "mxray",
        "version": env!("CARGO_PKG_VERSION"),
        "generated_at": generated_at,
        "reading": reading,
        "aggregates": aggregates,
    });
    write_atomic(&json, &serde_json::to_vec_pretty(&doc)?)?;
    Ok(Summary {
        aggregates,
        reading,
        markdown,
        html,
        json,
        readiness,
    })
}

/// Readers of a report being rewritten see the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| ReportError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ReportError::io(path, e))
}
