//! The `mxray` binary end to end: usage errors, and Ctrl-C (SIGINT) in the middle of a scan of the
//! generated world, which must still leave valid Parquet parts and run.json.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mxray() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mxray"))
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = mxray()
        .args(["scan", "--domains", "/nonexistent/list.txt", "--out"])
        .arg(dir.path().join("o"))
        .args(["--resolver", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read input /nonexistent/list.txt"),
        "{err}"
    );

    let out = mxray()
        .args(["scan", "--domains", "-", "--out"])
        .arg(dir.path().join("o"))
        .args(["--resolver", "not-an-ip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resolver"));
}

#[test]
fn stdin_input_and_csv_output() {
    let Some(f) = common::fixtures("stdin_input") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = mxray()
        .args([
            "scan",
            "--domains",
            "-",
            "--format",
            "csv",
            "-q",
            "--allow-loopback",
            "--out",
        ])
        .arg(dir.path())
        .args(["--resolver", &f.resolver.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ok.example.test\nnullmx.example.test\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let csv = std::fs::read_to_string(dir.path().join("domains.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(!dir.path().join("domains").exists(), "csv only");
}

#[test]
fn ctrl_c_mid_scan_leaves_valid_files() {
    let Some(f) = common::fixtures("ctrl_c") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = mxray()
        .args([
            "scan",
            "--flush-interval",
            "200ms",
            "-q",
            "--allow-loopback",
            "--domains",
        ])
        .arg(f.world.join("domains.txt"))
        .arg("--out")
        .arg(&out)
        .args(["--resolver", &f.resolver.to_string()])
        // Slow enough that the scan is surely still running when the signal comes.
        .args(["--rate", "2000"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted scans exit 130");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "stopped within the grace period"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["interrupted"], true);
    let rows = common::read_table(&out, "domains");
    let scanned = manifest["counts"]["domains_scanned"].as_u64().unwrap();
    assert!(scanned > 0 && scanned < 100_000, "{scanned}");
    assert_eq!(rows.len() as u64, scanned, "every scanned row was flushed");
}
