//! Shared helpers of the integration tests: where the fixtures are, reading results back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use arrow_array::{
    Array, BooleanArray, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

/// Held by the tests that time how fast a scan stops (SIGINT, SIGTERM, SIGHUP) and by the
/// tests that load the machine for long (several whole scans one after another: resume, report,
/// faults, deploy's shards; the whole lab with SMTP; Chromium), so that on a 2-core machine the
/// second kind does not starve the first of CPU while it is being timed.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The guard of [`HEAVY`] (a test that panicked while holding it does not poison the others).
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this is a CI run: `CI` set to anything but the empty string (`true` on most CI
/// services, `1` or `yes` on others). There a fixture that is missing fails its test.
pub fn under_ci() -> bool {
    ci_value_means_ci(std::env::var_os("CI").as_deref())
}

fn ci_value_means_ci(v: Option<&std::ffi::OsStr>) -> bool {
    v.is_some_and(|v| !v.is_empty())
}

/// Tests that skipped, with why, for the summary printed when the test binary ends.
static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The test calling this cannot run here (`why`: what is missing and how to get it). Under CI it
/// fails; otherwise it returns, and the caller returns at once. The test's name goes into a SKIP
/// summary on stdout after the harness's own result line: libtest shows a passing test's output
/// to nobody, so a skip said only inside the test would pass silently.
pub fn skip(test: &str, why: &str) {
    // libtest runs each test on a thread named after it (the `tokio::test` body too: it blocks
    // on that thread); `test` is the caller's own label, kept for a call from elsewhere.
    let name = match std::thread::current().name() {
        Some(n) if n == test || n.ends_with(&format!("::{test}")) => n.to_string(),
        Some(n) if n != "main" => format!("{n} ({test})"),
        _ => test.to_string(),
    };
    if under_ci() {
        panic!("{name}: {why} (CI is set: a missing fixture is a failure, not a skip)");
    }
    eprintln!("SKIP {name}: {why}");
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a function without captured state, run once by exit(3) after the
        // harness has returned from main (or called process::exit on a failure).
        unsafe {
            libc::atexit(print_skip_summary);
        }
    });
    SKIPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(format!("{name}: {why}"));
}

extern "C" fn print_skip_summary() {
    use std::io::Write;
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    // No panic may cross this extern "C" boundary: write errors are ignored.
    let _ = writeln!(
        out,
        "\nSKIP summary: {} test(s) passed without running what they test (their fixtures are \
         missing here; under CI they fail):",
        skipped.len()
    );
    for s in skipped.iter() {
        let _ = writeln!(out, "  SKIP {s}");
    }
    let _ = out.flush();
}

/// The servers started by tests/fixtures/up.sh (their addresses come from its env file, which
/// .ci/run exports). Without them the test is skipped ([`skip`]), except under CI where a
/// missing fixture is a failure.
pub struct Fixtures {
    /// Unbound, recursive.
    pub resolver: SocketAddr,
    /// Knot, authoritative only.
    pub auth: SocketAddr,
    /// Generated world: domains.txt, expected.jsonl, expected_rejects.csv.
    pub world: PathBuf,
}

pub fn fixtures(test: &str) -> Option<Fixtures> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("MXRAY_TEST_RESOLVER"),
        get("MXRAY_TEST_AUTH"),
        get("MXRAY_TEST_WORLD"),
    ) {
        (Some(r), Some(a), Some(w)) => Some(Fixtures {
            resolver: r.parse().expect("MXRAY_TEST_RESOLVER is IP:PORT"),
            auth: a.parse().expect("MXRAY_TEST_AUTH is IP:PORT"),
            world: PathBuf::from(w),
        }),
        _ => {
            skip(
                test,
                "the DNS fixtures are not up (MXRAY_TEST_RESOLVER, MXRAY_TEST_AUTH, \
                 MXRAY_TEST_WORLD unset): run `bash .ci/run`, or tests/fixtures/up.sh and export \
                 the variables of its env file",
            );
            None
        }
    }
}

fn cell(col: &dyn Array, i: usize) -> Value {
    if col.is_null(i) {
        return Value::Null;
    }
    let any = col.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<UInt8Array>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<UInt16Array>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<UInt32Array>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<UInt64Array>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
        return json!(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<ListArray>() {
        let v = a.value(i);
        return Value::Array((0..v.len()).map(|j| cell(v.as_ref(), j)).collect());
    }
    if let Some(a) = any.downcast_ref::<StructArray>() {
        return Value::Array(a.columns().iter().map(|c| cell(c.as_ref(), i)).collect());
    }
    panic!("unexpected column type {:?}", col.data_type());
}

pub fn batch_rows(batch: &RecordBatch) -> Vec<BTreeMap<String, Value>> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|i| {
            schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (f.name().clone(), cell(c.as_ref(), i)))
                .collect()
        })
        .collect()
}

/// Every row of every part file of a table, as JSON values (struct = array of its fields).
pub fn read_table(out: &Path, table: &str) -> Vec<BTreeMap<String, Value>> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(out.join(table))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    let mut rows = Vec::new();
    for p in parts {
        assert!(
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with(".parquet"),
            "only finished parts are left behind: {p:?}"
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            rows.extend(batch_rows(&b.unwrap()));
        }
    }
    rows
}

/// Rows keyed by a column.
pub fn by_key(
    rows: Vec<BTreeMap<String, Value>>,
    key: &str,
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut m = BTreeMap::new();
    for r in rows {
        let k = r[key].as_str().unwrap().to_string();
        assert!(m.insert(k.clone(), r).is_none(), "duplicate row for {k}");
    }
    m
}

/// The SMTP servers of tests/fixtures/up.sh (Postfix and Exim on loopback, port 25).
pub struct SmtpFixtures {
    pub dns: Fixtures,
    pub port: u16,
    /// pf-closed's second port: implicit TLS, and an open relay there.
    pub smtps_port: u16,
    /// The test CA that signed the servers' certificates (all but pf-closed's self-signed one).
    pub ca: PathBuf,
    pub pf_open: std::net::IpAddr,
    pub pf_closed: std::net::IpAddr,
    pub ex_open: std::net::IpAddr,
    pub ex_closed: std::net::IpAddr,
    pub pf_tls: std::net::IpAddr,
    pub pf_plain: std::net::IpAddr,
}

pub fn smtp_fixtures(test: &str) -> Option<SmtpFixtures> {
    let dns = fixtures(test)?;
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(port) = get("MXRAY_TEST_SMTP_PORT") else {
        skip(
            test,
            "the SMTP fixtures are not up (MXRAY_TEST_SMTP_* unset): run `bash .ci/run`, or \
             tests/fixtures/up.sh and export the variables of its env file",
        );
        return None;
    };
    let ip = |k: &str| {
        get(k)
            .unwrap_or_else(|| panic!("{k} unset"))
            .parse()
            .unwrap_or_else(|_| panic!("{k} is an address"))
    };
    Some(SmtpFixtures {
        dns,
        port: port.parse().expect("MXRAY_TEST_SMTP_PORT is a port"),
        smtps_port: get("MXRAY_TEST_SMTPS_PORT")
            .expect("MXRAY_TEST_SMTPS_PORT unset (fixtures older than the test: restart them)")
            .parse()
            .expect("MXRAY_TEST_SMTPS_PORT is a port"),
        ca: PathBuf::from(get("MXRAY_TEST_SMTP_CA").expect("MXRAY_TEST_SMTP_CA unset")),
        pf_open: ip("MXRAY_TEST_SMTP_PF_OPEN"),
        pf_closed: ip("MXRAY_TEST_SMTP_PF_CLOSED"),
        ex_open: ip("MXRAY_TEST_SMTP_EX_OPEN"),
        ex_closed: ip("MXRAY_TEST_SMTP_EX_CLOSED"),
        pf_tls: ip("MXRAY_TEST_SMTP_PF_TLS"),
        pf_plain: ip("MXRAY_TEST_SMTP_PF_PLAIN"),
    })
}

/// A scan into `out` through `resolver` (2 s timeout), Parquet only, flushed every 500 ms: the
/// base the fixture tests adjust.
pub fn scan_options(out: &Path, resolver: SocketAddr) -> mxray::pipeline::ScanOptions {
    use mxray::output::{Formats, WriterOptions};
    mxray::pipeline::ScanOptions {
        out: out.to_path_buf(),
        engine: mxray::dns::EngineOptions {
            servers: vec![resolver],
            timeout: std::time::Duration::from_secs(2),
            ..Default::default()
        },
        writer: WriterOptions {
            formats: Formats {
                parquet: true,
                csv: false,
            },
            flush_interval: std::time::Duration::from_millis(500),
            ..WriterOptions::default()
        },
        ..Default::default()
    }
}

#[test]
fn ci_is_any_non_empty_value() {
    use std::ffi::OsStr;
    // Any value counts, `false` and `0` too: CI services set `true`, `1` or `yes`, and a skip
    // that should have failed costs more than a failure that should have skipped.
    for (v, ci) in [
        (None, false),
        (Some(""), false),
        (Some("true"), true),
        (Some("1"), true),
        (Some("yes"), true),
        (Some("0"), true),
        (Some("false"), true),
    ] {
        assert_eq!(ci_value_means_ci(v.map(OsStr::new)), ci, "CI={v:?}");
    }
}

/// A fixture test run without its fixtures, in a process of its own (this test binary, one test):
/// it passes and is named in the SKIP summary at the end, or fails under any set `CI`.
#[test]
fn a_skip_is_named_at_the_end_and_fails_under_ci() {
    const SKIPPER: &str = "dns_fixtures::a_truncated_answer_is_asked_again_over_tcp";
    let run = |test: &str, ci: Option<&str>| {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", test, "--test-threads", "1"]);
        for k in [
            "MXRAY_TEST_RESOLVER",
            "MXRAY_TEST_AUTH",
            "MXRAY_TEST_WORLD",
            "CI",
        ] {
            c.env_remove(k);
        }
        if let Some(v) = ci {
            c.env("CI", v);
        }
        let o = c.output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };
    for ci in [None, Some("")] {
        let (code, stdout, stderr) = run(SKIPPER, ci);
        assert_eq!(code, Some(0), "CI={ci:?}: {stdout}{stderr}");
        let summary = &stdout[stdout
            .find("test result: ok. 1 passed")
            .unwrap_or_else(|| panic!("CI={ci:?}: {stdout}"))..];
        assert!(
            summary.contains("SKIP summary: 1 test(s)")
                && summary.contains(&format!(
                    "  SKIP {SKIPPER} (truncation): the DNS fixtures are not up"
                )),
            "CI={ci:?}: no SKIP summary naming the test after the result line:\n{stdout}"
        );
    }
    for ci in ["true", "1", "yes"] {
        let (code, stdout, stderr) = run(SKIPPER, Some(ci));
        assert_eq!(code, Some(101), "CI={ci}: {stdout}{stderr}");
        assert!(
            stdout.contains("CI is set: a missing fixture is a failure"),
            "CI={ci}: {stdout}{stderr}"
        );
    }
    // A run where nothing skipped prints no summary.
    let (code, stdout, _) = run("common::ci_is_any_non_empty_value", None);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("SKIP"), "{stdout}");
}

/// The in-process lab of `domains` domains generated from `seed`, its files under `dir/lab`.
pub async fn lab(dir: &Path, domains: usize, seed: u64) -> mxray::lab::Lab {
    mxray::lab::Lab::start(&mxray::lab::LabOptions {
        domains,
        seed,
        dir: dir.join("lab"),
        ..mxray::lab::LabOptions::default()
    })
    .await
    .unwrap()
}

/// Says which target of a stage is to fail and how the panic names it: `None` for the others.
pub type Pick = Box<dyn Fn(&dyn std::any::Any) -> Option<String> + Send + Sync>;

/// A scan's own probe wrapped through the probe interface (no test branch in the scan): it
/// panics, once, with `injected fault {what}` for the first target `pick` names.
pub struct Faulty<P> {
    pub inner: P,
    pub pick: Pick,
    pub armed: std::sync::atomic::AtomicBool,
}

impl<P> Faulty<P> {
    pub fn new(inner: P, pick: Pick) -> Faulty<P> {
        Faulty {
            inner,
            pick,
            armed: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl<P: mxray::pipeline::stage::Probe> mxray::pipeline::stage::Probe for Faulty<P> {
    type Target = P::Target;
    type Output = P::Output;
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }
    fn worst_case(&self) -> std::time::Duration {
        self.inner.worst_case()
    }
    async fn probe(&self, t: P::Target) -> P::Output {
        if let Some(what) = (self.pick)(&t)
            && self.armed.swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            panic!("injected fault {what}");
        }
        self.inner.probe(t).await
    }
    fn failed(&self, t: &P::Target, why: &str) -> P::Output {
        self.inner.failed(t, why)
    }
}
