//! Results that do not depend on the resolver's state (issue 37). Each test scans the same slice
//! of the generated world through an Unbound of its own (the fixtures' configuration on another
//! port, started, stopped and flushed by PID and by `unbound-control`), once cleanly and once with
//! a fault: a kill -9 of the scan and an immediate `--resume`; the resolver stopped for 5 s and
//! started again; its cache flushed; two resolvers, one of them dead for the whole scan. The rows
//! must be the clean scan's in every column (times aside), with no row missing or repeated and no
//! live name `timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Fixtures, by_key, read_table};
use mxray::pipeline::{RunManifest, Stop, scan};
use serde_json::Value;

/// Domains of the world scanned: enough that a fault lands mid-scan with queries in flight.
const DOMAINS: usize = 2000;

/// An Unbound of the test's own, from the fixtures' configuration.
struct Unbound {
    conf: PathBuf,
    pidfile: PathBuf,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// None (a SKIP, or a failure under CI) without the fixtures' configuration.
    fn start(test: &str, port: u16) -> Option<Unbound> {
        let Some(base) = std::env::var_os("MXRAY_TEST_UNBOUND_CONF") else {
            crate::common::skip(
                test,
                "MXRAY_TEST_UNBOUND_CONF unset: start tests/fixtures/up.sh and export its env",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = std::fs::read_to_string(base).unwrap();
        let mut conf = String::new();
        for line in text.lines() {
            let key = line.trim_start().split(':').next().unwrap_or("");
            let own = |v: String| format!("    {key}: {v}\n");
            conf += &match key {
                "interface" => own(format!("127.0.0.1@{port}")),
                "port" => own(port.to_string()),
                "directory" => own(format!("{:?}", d.display().to_string())),
                "pidfile" => own(format!("{:?}", d.join("unbound.pid").display().to_string())),
                "logfile" => own(format!("{:?}", d.join("unbound.log").display().to_string())),
                "control-interface" => own(format!(
                    "{:?}",
                    d.join("unbound.sock").display().to_string()
                )),
                _ => format!("{line}\n"),
            };
        }
        let conf_path = d.join("unbound.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let u = Unbound {
            conf: conf_path,
            pidfile: d.join("unbound.pid"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        u.run();
        Some(u)
    }

    /// Starts it (it forks; the pid file names the server) and waits until it answers.
    fn run(&self) {
        let s = Command::new("unbound")
            .arg("-c")
            .arg(&self.conf)
            .status()
            .expect("unbound runs");
        assert!(s.success(), "unbound -c {:?}", self.conf);
        let t = Instant::now();
        while !self.answers() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "unbound at {} did not come up",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        // A query for world.test SOA, by hand: 12-byte header, one question, RD set.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["world", "test"] {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 6, 0, 1]);
        let mut buf = [0u8; 512];
        sock.send_to(&q, self.addr).is_ok()
            && sock
                .recv_from(&mut buf)
                .is_ok_and(|(n, _)| n > 12 && buf[..2] == q[..2])
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(&self.pidfile)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Stops it by PID and waits for the process to go.
    fn stop(&self) {
        let pid = self.pid();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "unbound {pid} did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn control(&self, args: &[&str]) {
        let o = Command::new("unbound-control")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .expect("unbound-control runs");
        assert!(o.status.success(), "unbound-control {args:?}: {o:?}");
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

/// The first [`DOMAINS`] lines of the world's input, in a file of the test's.
fn input(f: &Fixtures, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(f.world.join("domains.txt")).unwrap();
    let lines: Vec<&str> = text.lines().take(DOMAINS).collect();
    let p = dir.join("domains.txt");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

fn options(input: &Path, out: &Path, resolvers: &[SocketAddr]) -> mxray::pipeline::ScanOptions {
    let mut o = crate::common::scan_options(out, resolvers[0]);
    o.engine.servers = resolvers.to_vec();
    o.targets = mxray::pipeline::Targets::Domains(input.display().to_string());
    o
}

/// A table's rows by key, without the columns that say when.
fn rows(out: &Path, table: &str, key: &str) -> BTreeMap<String, BTreeMap<String, Value>> {
    by_key(read_table(out, table), key)
        .into_iter()
        .map(|(k, mut r)| {
            r.retain(|c, _| !c.ends_with("_at"));
            (k, r)
        })
        .collect()
}

/// `text` with "timeout: no answer from ADDRESS" and "servfail: rcode Server Failure" both
/// written "no answer".
fn no_answer(text: &str) -> String {
    const TIMEOUT: &str = "timeout: no answer from ";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(TIMEOUT) {
        out += &rest[..i];
        out += "no answer";
        rest = rest[i + TIMEOUT.len()..]
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ':');
    }
    out += rest;
    out.replace("servfail: rcode Server Failure", "no answer")
}

/// The world's dead domains: their zones' servers never answer (the truth's `timeout`).
fn dead(f: &Fixtures) -> BTreeSet<String> {
    std::fs::read_to_string(f.world.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["mx_status"] == "timeout")
        .map(|d| d["domain"].as_str().unwrap().to_string())
        .collect()
}

/// A row as the comparison sees it. A zone whose servers never answer is asked of a resolver
/// that keeps trying them: whether it gives up first (SERVFAIL) or the scan does (`timeout`)
/// depends on the resolver's record of those servers, not on the scanner, so the two are one
/// answer here, in a dead domain's statuses and in any row's error texts. A live name's status
/// is compared as it is.
fn comparable(mut r: BTreeMap<String, Value>, dead: bool) -> BTreeMap<String, Value> {
    for (c, v) in r.iter_mut() {
        if c.ends_with("_errors") {
            *v = if dead {
                Value::Null
            } else {
                Value::String(no_answer(&v.to_string()))
            };
        } else if dead && *v == "servfail" {
            *v = Value::from("timeout");
        }
    }
    r
}

/// Domains whose row says `timeout` somewhere though the world's truth has them answer.
fn live_timeouts(f: &Fixtures, out: &Path) -> Vec<String> {
    let dead = dead(f);
    rows(out, "domains", "domain")
        .into_iter()
        .filter(|(d, r)| !dead.contains(d) && r.values().any(|v| v == "timeout"))
        .map(|(d, _)| d)
        .collect()
}

/// The faulted scan's tables are the clean one's, row for row, column for column.
fn same_rows(f: &Fixtures, clean: &Path, faulted: &Path) {
    let dead = dead(f);
    for (table, key) in [("domains", "domain"), ("hosts", "ip")] {
        let cmp = |out: &Path| -> BTreeMap<String, BTreeMap<String, Value>> {
            rows(out, table, key)
                .into_iter()
                .map(|(k, r)| {
                    let d = dead.contains(&k);
                    (k, comparable(r, d))
                })
                .collect()
        };
        let (a, b) = (cmp(clean), cmp(faulted));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{table}: the same targets, each once"
        );
        let differ: Vec<_> = a
            .iter()
            .filter(|(k, r)| b[*k] != **r)
            .map(|(k, r)| {
                let cols: Vec<_> = r.keys().filter(|c| r[*c] != b[k][*c]).collect();
                format!(
                    "{k}: {cols:?} {:?}",
                    cols.iter().map(|c| (&r[*c], &b[k][*c])).collect::<Vec<_>>()
                )
            })
            .take(10)
            .collect();
        assert!(
            differ.is_empty(),
            "{table}: rows differ from the clean scan: {differ:#?}"
        );
    }
    assert_eq!(live_timeouts(f, clean), Vec::<String>::new(), "clean scan");
    assert_eq!(
        live_timeouts(f, faulted),
        Vec::<String>::new(),
        "faulted scan"
    );
}

/// A clean scan of the slice through `u`, into `dir/clean`.
async fn clean(input: &Path, dir: &Path, u: &Unbound) -> (PathBuf, Duration) {
    let out = dir.join("clean");
    let t = Instant::now();
    let m = scan(options(input, &out, &[u.addr]), Stop::new())
        .await
        .unwrap();
    assert_eq!(m.state, "done");
    (out, t.elapsed())
}

/// What a fault test compares: a clean scan's output and a faulted one's, with its run.json.
struct Faulted {
    f: Fixtures,
    clean: PathBuf,
    out: PathBuf,
    m: RunManifest,
    _dir: tempfile::TempDir,
}

/// A clean scan of the slice through an Unbound of the test's own on `port`, then the same scan
/// again with `fault` run on that Unbound (on a thread of its own) a quarter of the clean scan's
/// time in. None, with a SKIP, without the fixtures.
// The lock orders whole tests (common::HEAVY).
#[allow(clippy::await_holding_lock)]
async fn clean_then_faulted(
    port: u16,
    fault: impl FnOnce(&Unbound) + Send + 'static,
) -> Option<Faulted> {
    let f = crate::common::fixtures("resolver_state")?;
    let u = std::sync::Arc::new(Unbound::start("resolver_state", port)?);
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let input = input(&f, dir.path());
    let (clean, took) = clean(&input, dir.path(), &u).await;
    let out = dir.path().join("faulted");
    let ub = u.clone();
    let faulting = std::thread::spawn(move || {
        std::thread::sleep(took / 4);
        fault(&ub);
    });
    let m = scan(options(&input, &out, &[u.addr]), Stop::new())
        .await
        .unwrap();
    faulting.join().unwrap();
    assert_eq!(m.state, "done");
    Some(Faulted {
        f,
        clean,
        out,
        m,
        _dir: dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_stopped_for_5s_mid_scan_and_started_again_changes_no_row() {
    let Some(t) = clean_then_faulted(5371, |u| {
        u.stop();
        std::thread::sleep(Duration::from_secs(5));
        u.run();
    })
    .await
    else {
        return;
    };
    let m = &t.m;
    assert!(
        !m.dns.outages.is_empty() && m.dns.excused_attempts > 0,
        "the stop is seen as an outage: {:?}, {} attempts excused",
        m.dns.outages,
        m.dns.excused_attempts
    );
    let o = &m.dns.outages[0];
    assert!(o.span.end.is_some() && o.span.seconds >= 3.0, "{o:?}");
    same_rows(&t.f, &t.clean, &t.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_cache_flushed_mid_scan_changes_no_row() {
    let Some(t) = clean_then_faulted(5372, |u| {
        // Twice, a moment apart: the infrastructure cache too (the delegations' servers and
        // their round trips), and the requests in progress.
        for _ in 0..2 {
            u.control(&["flush_zone", "."]);
            u.control(&["flush_infra", "all"]);
            u.control(&["flush_requestlist"]);
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    else {
        return;
    };
    same_rows(&t.f, &t.clean, &t.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn with_two_resolvers_one_dead_for_the_whole_scan_no_row_changes() {
    let Some(f) = crate::common::fixtures("resolver_state") else {
        return;
    };
    let Some(live) = Unbound::start("resolver_state", 5373) else {
        return;
    };
    let Some(dead) = Unbound::start("resolver_state", 5374) else {
        return;
    };
    let _heavy = crate::common::heavy();
    dead.stop();
    let dir = tempfile::tempdir().unwrap();
    let input = input(&f, dir.path());
    let (clean_out, _) = clean(&input, dir.path(), &live).await;
    let out = dir.path().join("faulted");
    let m = scan(options(&input, &out, &[dead.addr, live.addr]), Stop::new())
        .await
        .unwrap();
    assert_eq!(m.state, "done");
    same_rows(&f, &clean_out, &out);
    let by: BTreeMap<&str, _> = m
        .dns
        .resolvers
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    let (d, l) = (
        by[dead.addr.to_string().as_str()],
        by[live.addr.to_string().as_str()],
    );
    assert_eq!((d.state, l.state), ("down", "up"), "{:?}", m.dns.resolvers);
    assert_eq!(d.out_of_rotation.len(), 1, "{d:?}");
    assert!(
        d.out_of_rotation[0].end.is_none(),
        "out until the end: {d:?}"
    );
    assert!(l.out_of_rotation.is_empty(), "{l:?}");
    assert!(m.dns.outages.is_empty(), "one resolver answered throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_scan_killed_and_resumed_at_once_equals_an_uninterrupted_one() {
    let Some(f) = crate::common::fixtures("resolver_state") else {
        return;
    };
    let Some(u) = Unbound::start("resolver_state", 5375) else {
        return;
    };
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let input = input(&f, dir.path());
    let cmd = |out: &Path, resume: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mxray"));
        c.arg("scan")
            .arg("--domains")
            .arg(&input)
            .arg("--out")
            .arg(out)
            .args([
                "--resolver",
                &u.addr.to_string(),
                "--allow-loopback",
                "--quiet",
            ])
            .args(["--format", "parquet", "--flush-interval", "200ms"]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    // The same command uninterrupted, for the rows to compare with.
    let clean_out = dir.path().join("clean");
    let o = cmd(&clean_out, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("killed");
    let mut child = cmd(&out, false).spawn().unwrap();
    // Killed once a third of the rows are out: thousands of queries are then in flight, and
    // the resumed scan meets a resolver still busy with them.
    let t = Instant::now();
    loop {
        let written = std::fs::read_to_string(out.join("run.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|m| m["counts"]["domains_written"]["rows"].as_u64())
            .unwrap_or(0);
        if written as usize >= DOMAINS / 3 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scan ended before the kill"
        );
        assert!(t.elapsed() < Duration::from_secs(120), "no rows written");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = cmd(&out, true).output().unwrap();
    assert!(
        o.status.success(),
        "--resume: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    same_rows(&f, &clean_out, &out);
}

/// No resolver answers at all: the scan waits `--resolver-outage-limit`, then stops as on
/// SIGTERM with whole files, run.json `interrupted` / `resolvers-unreachable` and exit 75, no
/// domain written (their queries were held, not given up), and `--resume` would ask them all.
/// Needs no fixture: the resolver is a loopback port nothing listens on.
#[test]
fn with_every_resolver_silent_the_scan_stops_after_the_outage_limit_and_writes_no_guess() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("domains.txt");
    let names: Vec<String> = (0..40).map(|i| format!("d{i}.zone{i}.example\n")).collect();
    std::fs::write(&input, names.concat()).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.path().join("out");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["scan", "--domains"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args([
            "--resolver",
            &format!("127.0.0.1:{port}"),
            "--allow-loopback",
            "-q",
        ])
        .args(["--timeout", "200ms", "--resolver-outage-limit", "2s"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        o.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(took < Duration::from_secs(60), "stopped in {took:?}");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        (&m["state"], &m["reason"], &m["signal"]),
        (
            &Value::from("interrupted"),
            &Value::from("resolvers-unreachable"),
            &Value::Null
        )
    );
    let outages = m["dns"]["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    assert!(
        outages[0]["end"].is_null(),
        "still on at the end: {outages:?}"
    );
    assert_eq!(m["dns"]["resolvers"][0]["state"], "down");
    assert_eq!(
        m["counts"]["domains_written"]["rows"], 0,
        "no domain's row is a guess made while no resolver answered"
    );
}
