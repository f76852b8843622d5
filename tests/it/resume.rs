//! `--resume` checks the input file itself, not only its path: run.json records its size and
//! SHA-256 when the scan starts, a file changed since is refused, and stdin cannot be resumed.
//! Scans of the in-process lab (loopback only): no fixtures needed.

use std::path::Path;
use std::process::Command;

use mxray::pipeline::{ResumeError, ScanError, ScanOptions, Stop, Targets};
use serde_json::Value;

fn run_json(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

/// What `sha256sum` says of the file: a digest computed apart from mxray's.
fn sha256sum(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(o.status.success(), "sha256sum {}", path.display());
    let text = String::from_utf8(o.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

/// Every file under `out` with its bytes: a refused resume must leave them all as they were.
fn snapshot(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![out.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock orders whole tests (each has its own runtime), not tasks of one runtime.
#[allow(clippy::await_holding_lock)]
async fn a_changed_input_is_refused_and_the_same_one_resumes() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = crate::common::lab(dir.path(), 150, 11).await;
    let list = dir.path().join("list.txt");
    let original = std::fs::read_to_string(&lab.files.domains).unwrap();
    std::fs::write(&list, &original).unwrap();
    let out = dir.path().join("out");
    let opts = |targets: Targets, resume: bool| -> ScanOptions {
        let mut o = crate::common::scan_options(&out, lab.dns);
        o.targets = targets;
        o.resume = resume;
        o.host_checks = false;
        o
    };
    let file = Targets::Domains(list.display().to_string());

    let first = mxray::pipeline::scan(opts(file.clone(), false), Stop::new())
        .await
        .unwrap();
    assert_eq!(first.counts.domains_scanned, 150);
    let recorded = run_json(&out);
    assert_eq!(recorded["input_bytes"], original.len() as u64);
    assert_eq!(recorded["input_sha256"], sha256sum(&list));

    // The same file: resumed (every domain done already).
    let again = mxray::pipeline::scan(opts(file.clone(), true), Stop::new())
        .await
        .unwrap();
    assert_eq!(again.state, "done");
    assert_eq!(again.resumes.len(), 1);
    assert_eq!(again.counts.resumed_skipped, 150);
    assert_eq!(again.counts.domains_scanned, 0);
    assert_eq!(
        again.input_sha256.as_deref(),
        Some(sha256sum(&list).as_str())
    );

    // Changed in place, at the same path: two lines swapped (the size stays), a line added.
    let mut lines: Vec<&str> = original.lines().collect();
    lines.swap(3, 97);
    let swapped = lines.join("\n") + "\n";
    assert_eq!(swapped.len(), original.len());
    let appended = format!("{original}one-more.test\n");
    let before = snapshot(&out);
    for (what, text) in [("swapped", &swapped), ("appended", &appended)] {
        std::fs::write(&list, text).unwrap();
        let err = mxray::pipeline::scan(opts(file.clone(), true), Stop::new())
            .await
            .unwrap_err();
        let ScanError::Resume(ResumeError::InputChanged { was, now, .. }) = &err else {
            panic!("{what}: {err:?}");
        };
        let (was, now) = (was.as_ref().unwrap(), now.as_ref().unwrap());
        assert_eq!(was.sha256, recorded["input_sha256"], "{what}");
        assert_eq!(now.sha256, sha256sum(&list), "{what}");
        assert_eq!(now.bytes, text.len() as u64, "{what}");
        let msg = err.to_string();
        assert!(
            msg.contains(&now.sha256) && msg.contains(&was.sha256),
            "{msg}"
        );
        assert!(
            snapshot(&out) == before,
            "{what}: a refused resume changed {out:?}"
        );
    }

    // The binary says the same, with the usage-error exit code.
    let o = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["scan", "-q", "--resume", "--domains"])
        .arg(&list)
        .arg("--out")
        .arg(&out)
        .args(["--resolver", &lab.dns.to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("is not the one the scan in") && stderr.contains("bytes, SHA-256"),
        "{stderr}"
    );

    // Put back as it was: the content decides, so it resumes again.
    std::fs::write(&list, &original).unwrap();
    let restored = mxray::pipeline::scan(opts(file.clone(), true), Stop::new())
        .await
        .unwrap();
    assert_eq!(restored.resumes.len(), 2);

    // stdin, read once, is refused before anything in OUT is touched.
    let before = snapshot(&out);
    let err = mxray::pipeline::scan(opts(Targets::Domains("-".into()), true), Stop::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScanError::Resume(ResumeError::Stream { .. })),
        "{err:?}"
    );
    assert!(
        snapshot(&out) == before,
        "a refused stdin resume changed OUT"
    );

    // A run.json from before the check (no input_bytes, no input_sha256) cannot vouch for the
    // input: refused rather than resumed on the path alone.
    let mut old = run_json(&out);
    let fields = old.as_object_mut().unwrap();
    fields.remove("input_bytes").unwrap();
    fields.remove("input_sha256").unwrap();
    std::fs::write(out.join("run.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let err = mxray::pipeline::scan(opts(file, true), Stop::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScanError::Resume(ResumeError::InputNotRecorded { .. })),
        "{err:?}"
    );
    lab.stop().await;
}

/// `--domains - --resume` fails at once, before the output directory is made or a resolver
/// asked, and `--help` says so.
#[test]
fn stdin_cannot_be_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["scan", "--resume", "--domains", "-", "--out"])
        .arg(&out)
        // Nothing listens there; the refusal comes before any query.
        .args(["--resolver", "127.0.0.1:9"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("stdin or a pipe, which can be read only once"),
        "{stderr}"
    );
    assert!(!out.exists(), "refused before the output directory is made");

    let help = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let resume = &help[help.find("--resume").expect("--resume in --help")..];
    let resume = &resume[..resume.find("\n  -").unwrap_or(resume.len())];
    assert!(
        resume.contains("size and SHA-256") && resume.contains("Not with stdin (`--domains -`)"),
        "{resume}"
    );
}
