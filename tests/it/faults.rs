//! Output faults on a scan of the in-process lab (no fixtures needed): the disk filling up
//! mid-scan, and a part removed under a running scan. Each ends with a clear error and exit 2,
//! leaves only whole parts and a run.json that says what happened, and `--resume` then finishes
//! the scan with every domain exactly once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{by_key, read_table};
use mxray::lab::Lab;
use serde_json::Value;

const DOMAINS: usize = 1500;

/// A tmpfs of its own for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None, with a SKIP ([`crate::common::skip`]), where mounting is not permitted (not root);
    /// a failure under CI, where .ci/run runs as root.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            crate::common::skip(
                "faults",
                "cannot mount a tmpfs here (root needed): the disk-full test did not run",
            );
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn lab(dir: &Path, seed: u64) -> Lab {
    crate::common::lab(dir, DOMAINS, seed).await
}

/// The lab's own scan command, flushing every 100 ms so parts come one after another.
fn scan(lab: &Lab, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mxray"));
    c.args(lab.scan_args(out))
        .args(["--quiet", "--flush-interval", "100ms"]);
    c
}

fn manifest(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// After the fault: `--resume` runs to the end, and every domain of the lab is there once
/// (`by_key` panics on a repeated row), every address once.
fn resume_finishes(lab: &Lab, out: &Path) {
    let o = scan(lab, out).arg("--resume").output().unwrap();
    assert!(o.status.success(), "--resume: {}", stderr(&o));
    let m = manifest(out);
    assert_eq!(m["state"], "done", "{m}");
    assert_eq!(m["error"], Value::Null);
    assert_eq!(by_key(read_table(out, "domains"), "domain").len(), DOMAINS);
    let hosts = by_key(read_table(out, "hosts"), "ip");
    assert!(!hosts.is_empty());
    assert!(
        !out.join(".run.json.reserve").exists(),
        "the run.json reserve is given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Back-to-back scans: kept apart from the tests that time a stop (common::HEAVY). The lock
// orders whole tests (each has its own runtime), not tasks of one runtime.
#[allow(clippy::await_holding_lock)]
async fn a_full_disk_ends_the_scan_with_whole_parts_and_a_manifest_then_resume_finishes_it() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "160k") else {
        return;
    };
    let lab = lab(dir.path(), 41).await;
    let out = disk.0.join("out");
    let (l, o) = (&lab, out.clone());
    let first = tokio::task::block_in_place(|| scan(l, &o).output().unwrap());
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(
        err.contains("writing") && err.contains("No space left on device"),
        "{err}"
    );
    // run.json says what happened: the reserve kept room for it.
    let m = manifest(&out);
    assert_eq!(m["state"], "failed", "{m}");
    let why = m["error"].as_str().unwrap_or_default();
    assert!(why.contains("No space left on device"), "{why}");
    // What was written is whole: every part reads, and no temporary part is left behind
    // (read_table refuses one).
    let written = read_table(&out, "domains").len();
    assert!(
        written > 0 && written < DOMAINS,
        "{written} domain rows: the disk should fill mid-scan"
    );
    read_table(&out, "hosts");

    disk.resize("64m");
    tokio::task::block_in_place(|| resume_finishes(&lab, &out));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Back-to-back scans: kept apart from the tests that time a stop (common::HEAVY). The lock
// orders whole tests (each has its own runtime), not tasks of one runtime.
#[allow(clippy::await_holding_lock)]
async fn a_part_removed_under_a_running_scan_is_an_error_not_rows_reported_written() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path(), 43).await;
    let out = dir.path().join("out");
    let (l, o) = (&lab, out.clone());
    let first = tokio::task::block_in_place(|| {
        let child = scan(l, &o)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (first, second) = (
            o.join("domains/part-00000.parquet"),
            o.join("domains/part-00001.parquet"),
        );
        let t = Instant::now();
        while !second.exists() {
            assert!(t.elapsed() < Duration::from_secs(60), "no second part");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_file(&first).unwrap();
        child.wait_with_output().unwrap()
    });
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(err.contains("removed while it ran"), "{err}");
    let m = manifest(&out);
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["error"]
            .as_str()
            .is_some_and(|e| e.contains("part-00000.parquet")),
        "{m}"
    );
    // The scan went to the end of its input: only the removed part's rows are missing.
    assert!(read_table(&out, "domains").len() < DOMAINS);

    tokio::task::block_in_place(|| resume_finishes(&lab, &out));
    lab.stop().await;
}

/// An output directory that cannot be made (a path under a file: root passes every permission
/// check, so a read-only directory would not do) is a usage error before any query is sent.
#[test]
fn an_unusable_out_is_exit_2_with_the_path_before_any_query() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "example.com\n").unwrap();
    let out = list.join("out");
    // Nothing listens at port 9 of loopback: a query sent would only time out.
    let o = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .arg("scan")
        .arg("--domains")
        .arg(&list)
        .arg("--out")
        .arg(&out)
        .args(["--resolver", "127.0.0.1:9", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("output directory") && err.contains("out"),
        "{err}"
    );
}
