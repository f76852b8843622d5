//! `mxray demo`: start the lab, scan it with every check on, read the headline figures back
//! from the Parquet the scan wrote, stop the lab.
//!
//! The scan's options come from the caller, built from the same argument list `mxray lab`
//! prints ([`Lab::scan_args`]): the demo is exactly the scan a user would type, and the
//! library still never parses a command line itself.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::{Array, BooleanArray, ListArray, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Lab, LabError, LabOptions};
use crate::pipeline::{RunManifest, ScanError, ScanOptions, Stop};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("lab: {0}")]
    Lab(#[from] LabError),
    #[error("scan options: {0}")]
    Options(String),
    #[error("scan: {0}")]
    Scan(#[from] ScanError),
    #[error("reading the results in {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
}

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The lab to scan; its `dir` is replaced by `OUT/lab`.
    pub lab: LabOptions,
    /// The scan's output directory (an earlier demo's results there are replaced).
    pub out: PathBuf,
}

/// What a demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    pub out: PathBuf,
    pub lab_dir: PathBuf,
    /// The `mxray scan` arguments the demo ran.
    pub scan_args: Vec<String>,
    pub lab_records: usize,
    pub lab_start: Duration,
    pub manifest: RunManifest,
    pub headlines: Headlines,
}

/// Runs the demo. `scan_options` turns `mxray scan` arguments into options (the binary's own
/// parser); `stop` ends the scan early, and the lab is stopped either way.
pub async fn run<F>(
    opts: DemoOptions,
    scan_options: F,
    stop: Stop,
) -> Result<DemoOutcome, DemoError>
where
    F: FnOnce(Vec<String>) -> Result<ScanOptions, String>,
{
    let t0 = Instant::now();
    let lab_dir = opts.out.join("lab");
    let lab = Lab::start(&LabOptions {
        dir: lab_dir.clone(),
        ..opts.lab
    })
    .await?;
    let lab_start = t0.elapsed();
    let mut args = lab.scan_args(&opts.out);
    args.push("--overwrite".into());
    let scanned = async {
        let options = scan_options(args.clone()).map_err(DemoError::Options)?;
        let manifest = crate::pipeline::scan(options, stop).await?;
        let headlines = Headlines::read(&opts.out)?;
        Ok::<_, DemoError>((manifest, headlines))
    }
    .await;
    let records = lab.records;
    lab.stop().await;
    let (manifest, headlines) = scanned?;
    Ok(DemoOutcome {
        out: opts.out,
        lab_dir,
        scan_args: args,
        lab_records: records,
        lab_start,
        manifest,
        headlines,
    })
}

/// The figures a reader wants first, counted from the written Parquet parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headlines {
    pub domains: u64,
    pub spf: BTreeMap<String, u64>,
    pub dmarc_p: BTreeMap<String, u64>,
    /// Domains with a DMARC record in use.
    pub dmarc_valid: u64,
    /// Domains with a key found under a probed selector.
    pub dkim: u64,
    pub hosts: u64,
    /// Hosts with an SMTP dialogue (`smtp_status` ok).
    pub smtp_ok: u64,
    pub starttls: u64,
    pub open_relays: u64,
    pub dnsbl_listed: u64,
}

fn parts(out: &Path, table: &str) -> Result<Vec<PathBuf>, DemoError> {
    let dir = out.join(table);
    let read_err = |e: std::io::Error| DemoError::Read {
        path: dir.clone(),
        reason: e.to_string(),
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    Ok(v)
}

fn batches(path: &Path) -> Result<Vec<RecordBatch>, DemoError> {
    let err = |reason: String| DemoError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let f = File::open(path).map_err(|e| err(e.to_string()))?;
    ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| err(e.to_string()))?
        .map(|b| b.map_err(|e| err(e.to_string())))
        .collect()
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Option<&'a T> {
    b.column_by_name(name)?.as_any().downcast_ref::<T>()
}

impl Headlines {
    pub fn read(out: &Path) -> Result<Headlines, DemoError> {
        let mut h = Headlines::default();
        let missing = |path: &Path, col: &str| DemoError::Read {
            path: path.to_path_buf(),
            reason: format!("no column {col} of the expected type"),
        };
        for p in parts(out, "domains")? {
            for b in batches(&p)? {
                let spf = column::<StringArray>(&b, "spf_status")
                    .ok_or_else(|| missing(&p, "spf_status"))?;
                let p_ =
                    column::<StringArray>(&b, "dmarc_p").ok_or_else(|| missing(&p, "dmarc_p"))?;
                let dkim = column::<ListArray>(&b, "dkim_selectors")
                    .ok_or_else(|| missing(&p, "dkim_selectors"))?;
                for i in 0..b.num_rows() {
                    h.domains += 1;
                    *h.spf.entry(spf.value(i).to_string()).or_default() += 1;
                    if p_.is_valid(i) {
                        h.dmarc_valid += 1;
                        *h.dmarc_p.entry(p_.value(i).to_string()).or_default() += 1;
                    }
                    h.dkim += u64::from(dkim.is_valid(i) && !dkim.value(i).is_empty());
                }
            }
        }
        let flag =
            |a: Option<&BooleanArray>, i: usize| a.is_some_and(|a| a.is_valid(i) && a.value(i));
        for p in parts(out, "hosts")? {
            for b in batches(&p)? {
                let status = column::<StringArray>(&b, "smtp_status");
                let listed = column::<ListArray>(&b, "dnsbl_listed");
                for i in 0..b.num_rows() {
                    h.hosts += 1;
                    h.smtp_ok +=
                        u64::from(status.is_some_and(|s| s.is_valid(i) && s.value(i) == "ok"));
                    h.starttls += u64::from(flag(column(&b, "starttls"), i));
                    h.open_relays += u64::from(flag(column(&b, "open_relay"), i));
                    h.dnsbl_listed +=
                        u64::from(listed.is_some_and(|l| l.is_valid(i) && !l.value(i).is_empty()));
                }
            }
        }
        Ok(h)
    }
}

fn pct(x: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * x as f64 / of as f64
    }
}

impl fmt::Display for Headlines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.domains;
        let spf = |s: &str| self.spf.get(s).copied().unwrap_or(0);
        writeln!(
            f,
            "  SPF    valid {:.1}%, permerror {:.1}%, temperror {:.1}%, none {:.1}% of {d} domains",
            pct(spf("valid"), d),
            pct(spf("permerror"), d),
            pct(spf("temperror"), d),
            pct(spf("none"), d)
        )?;
        let p = |s: &str| self.dmarc_p.get(s).copied().unwrap_or(0);
        writeln!(
            f,
            "  DMARC  in use at {:.1}%: p=none {}, quarantine {}, reject {}",
            pct(self.dmarc_valid, d),
            p("none"),
            p("quarantine"),
            p("reject")
        )?;
        writeln!(f, "  DKIM   a key found at {:.1}%", pct(self.dkim, d))?;
        writeln!(
            f,
            "  hosts  {} MX addresses, {} DNSBL-listed; SMTP answered at {}, STARTTLS at {:.1}% of those, {} open relays",
            self.hosts,
            self.dnsbl_listed,
            self.smtp_ok,
            pct(self.starttls, self.smtp_ok),
            self.open_relays
        )
    }
}
