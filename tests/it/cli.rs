//! The `mxray` binary end to end: usage errors, and SIGINT (Ctrl-C), SIGTERM and SIGHUP in the
//! middle of a scan of the generated world, which must still leave valid Parquet parts and
//! run.json.

use crate::common;

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

    // (an option that is wrong, the resolver, the option the message must name)
    let cases: [(&[&str], &str, &str); 2] = [
        (&[], "not-an-ip", "--resolver"),
        (&["--threads", "0"], "127.0.0.1:9", "--threads"),
    ];
    for (extra, resolver, named) in cases {
        let out = mxray()
            .args(["scan", "--domains", "-"])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("o"))
            .args(["--resolver", resolver])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?} {resolver}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{extra:?} {resolver}: {err}");
    }
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
    stopped_by_a_signal_mid_scan("INT", 130);
}

/// SIGTERM is what Kubernetes sends a pod before eviction, Slurm at the time limit, systemd and
/// `timeout`: it must flush like Ctrl-C, not lose the scan.
#[test]
fn sigterm_mid_scan_leaves_valid_files() {
    stopped_by_a_signal_mid_scan("TERM", 143);
}

#[test]
fn sighup_mid_scan_leaves_valid_files() {
    stopped_by_a_signal_mid_scan("HUP", 129);
}

/// A scan of the generated world, slow enough (`--rate 2000`) that it is surely still running
/// when a test stops it, flushing every 200 ms.
fn world_scan(f: &common::Fixtures, out: &std::path::Path) -> Command {
    let mut c = mxray();
    c.args([
        "scan",
        "--flush-interval",
        "200ms",
        "-q",
        "--allow-loopback",
    ])
    .arg("--domains")
    .arg(f.world.join("domains.txt"))
    .arg("--out")
    .arg(out)
    .args(["--resolver", &f.resolver.to_string(), "--rate", "2000"]);
    c
}

fn stopped_by_a_signal_mid_scan(signal: &str, code: i32) {
    let Some(f) = common::fixtures(&format!("sig{signal}")) else {
        return;
    };
    let _heavy = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = world_scan(&f, &out).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(
        status.code(),
        Some(code),
        "SIG{signal} after a clean flush: {err}"
    );
    assert!(err.contains(&format!("SIG{signal}: stopping")), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "stopped within the grace period: {:?}",
        t.elapsed()
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["interrupted"], true);
    assert_eq!(manifest["state"], "interrupted");
    assert_eq!(manifest["signal"], format!("SIG{signal}"));
    // Without --threads, a resolver on loopback is left a core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(manifest["options"]["worker_threads"], (cores - 1).max(1));
    let rows = common::read_table(&out, "domains");
    let scanned = manifest["counts"]["domains_scanned"].as_u64().unwrap();
    assert!(scanned > 0 && scanned < 100_000, "{scanned}");
    assert_eq!(rows.len() as u64, scanned, "every scanned row was flushed");
    let hosts = common::read_table(&out, "hosts");
    assert_eq!(
        hosts.len() as u64,
        manifest["counts"]["hosts"].as_u64().unwrap(),
        "every host row was flushed"
    );
}

/// run.json is a checkpoint: a scan killed with SIGKILL (no chance to flush) still leaves a
/// manifest that says it was running and what it had written, and only whole Parquet parts.
#[test]
fn a_killed_scan_leaves_a_running_manifest() {
    let Some(f) = common::fixtures("sigkill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = world_scan(&f, &out).spawn().unwrap();
    // Kill it once a checkpoint has counted written rows (how soon depends on the machine's load).
    let t = Instant::now();
    let rows_in_checkpoint = || -> u64 {
        std::fs::read_to_string(out.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|m| m["counts"]["domains_written"]["rows"].as_u64())
            .unwrap_or(0)
    };
    while rows_in_checkpoint() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no checkpoint with rows"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "running");
    assert_eq!(manifest["interrupted"], false);
    let written = &manifest["counts"]["domains_written"];
    // A part being written when the kill came is left under its hidden temporary name, which
    // `OUT/domains/*.parquet` never matches; every visible part is whole.
    for e in std::fs::read_dir(out.join("domains")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.starts_with('.') {
            assert!(name.ends_with(".parquet.tmp"), "{name}");
            std::fs::remove_file(out.join("domains").join(&name)).unwrap();
        } else {
            assert!(
                name.starts_with("part-") && name.ends_with(".parquet"),
                "{name}"
            );
        }
    }
    let rows = common::read_table(&out, "domains");
    assert!(written["rows"].as_u64().unwrap() > 0, "{manifest}");
    assert!(
        rows.len() as u64 >= written["rows"].as_u64().unwrap(),
        "the parts hold at least what the last checkpoint counted"
    );
    assert_eq!(manifest["stages"][0]["name"], "domains");
    assert!(manifest["stages"][0]["done"].as_u64().unwrap() > 0);
    // A finished scan says so.
    let out2 = dir.path().join("out2");
    let input = dir.path().join("one.txt");
    std::fs::write(&input, "ok.example.test\n").unwrap();
    let st = mxray()
        .args(["scan", "-q", "--allow-loopback", "--domains"])
        .arg(&input)
        .arg("--out")
        .arg(&out2)
        .args(["--resolver", &f.resolver.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "done");
}

#[test]
fn policy_files_are_read_at_startup_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let help = mxray().args(["scan", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--psl <FILE>",
        "--dmarc-discovery <DMARC_DISCOVERY>",
        "[default: rfc9989]",
        "rfc7489",
        "--dkim-selectors <FILE|full>",
        "--no-dkim",
        "--dnssec",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}: {help}");
    }
    let bad = dir.path().join("selectors.txt");
    std::fs::write(&bad, "google\nnot a selector!\n").unwrap();
    for (flag, file, msg) in [
        ("--dkim-selectors", bad.clone(), "invalid-selector: line 2"),
        ("--psl", dir.path().join("missing.dat"), "--psl"),
    ] {
        let out = mxray()
            .args([
                "scan",
                "--domains",
                "-",
                "--resolver",
                "127.0.0.1:9",
                "--out",
            ])
            .arg(dir.path().join("o"))
            .arg(flag)
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{flag}: {err}");
    }
}

#[test]
fn psl_and_selector_files_drive_the_scan() {
    let Some(f) = common::fixtures("policy_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let psl = dir.path().join("psl.dat");
    // example.test a public suffix: sub.orgdmarc.example.test's Organizational Domain is
    // orgdmarc.example.test, which publishes the record.
    std::fs::write(&psl, "// test list\ntest\nexample.test\n").unwrap();
    let sel = dir.path().join("sel.txt");
    std::fs::write(
        &sel,
        "# two of the fixture's selectors, in this order\ns1\ngoogle\nnone1\n",
    )
    .unwrap();
    let mut child = mxray()
        .args(["scan", "--domains", "-", "--format", "csv", "-q", "--out"])
        .arg(dir.path().join("o"))
        .args(["--resolver", &f.resolver.to_string()])
        .args(["--threads", "1"])
        .arg("--psl")
        .arg(&psl)
        .arg("--dkim-selectors")
        .arg(&sel)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sub.orgdmarc.example.test\ndkim.example.test\nok.example.test\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut r = csv::Reader::from_path(dir.path().join("o/domains.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let row = |d: &str| rows.iter().find(|x| &x[0] == d).unwrap().clone();
    assert_eq!(
        &row("sub.orgdmarc.example.test")[col("dmarc_source")],
        "organizational"
    );
    assert_eq!(
        &row("dkim.example.test")[col("dkim_selectors")],
        "s1;google"
    );
    assert_eq!(
        &row("dkim.example.test")[col("dkim_keys")],
        "s1 ed25519 256 false false true ;google rsa 2048 false false true "
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/run.json")).unwrap())
            .unwrap();
    // 3 selectors for each domain without a _domainkey subtree (sub.orgdmarc and ok).
    assert_eq!(run["counts"]["dkim_probes_saved"], 6);
    assert_eq!(run["options"]["psl"], "file");
    assert_eq!(run["options"]["dkim_selectors"], 3);
    assert_eq!(run["options"]["worker_threads"], 1, "--threads 1");
}

/// `--resume` after SIGKILL at several moments: the union of the parts holds every target exactly
/// once and equals the rows of a scan that ran in one go (timestamps aside), rejects.csv holds
/// each bad line once, and run.json lists every resume.
#[test]
fn resume_after_sigkill_loses_and_repeats_nothing() {
    let Some(f) = common::fixtures("resume") else {
        return;
    };
    let _heavy = common::heavy();
    let dir = tempfile::tempdir().unwrap();
    // Live domains only: a delegation to a server that never answers ends as timeout or
    // SERVFAIL, whichever the resolver says at that moment, so two scans need not agree on it.
    let mut input = String::from("# resume test\n");
    let world = std::fs::read_to_string(f.world.join("expected.jsonl")).unwrap();
    for (i, l) in world.lines().enumerate().take(3000) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if !v["mx_status"].as_str().unwrap_or("").contains("timeout") {
            input += v["domain"].as_str().unwrap();
            input += "\n";
        }
        if i % 700 == 0 {
            input += &format!("not a domain {i}!\n");
        }
    }
    let list = dir.path().join("list.txt");
    std::fs::write(&list, &input).unwrap();
    let scan = |out: &std::path::Path| {
        let mut c = mxray();
        c.args([
            "scan",
            "--flush-interval",
            "100ms",
            "-q",
            "--allow-loopback",
        ])
        .arg("--domains")
        .arg(&list)
        .arg("--out")
        .arg(out)
        .args(["--resolver", &f.resolver.to_string(), "--rate", "6000"]);
        c
    };
    let whole = dir.path().join("whole");
    assert!(scan(&whole).status().unwrap().success());

    let out = dir.path().join("resumed");
    // Kill moments from 0.3 s to about 3 s into each run (the whole scan takes a few seconds).
    for (run, wait_ms) in [300u64, 1700, 900, 2600].into_iter().enumerate() {
        let mut c = scan(&out);
        if run > 0 {
            c.arg("--resume");
        }
        let mut child = c.spawn().unwrap();
        let t = Instant::now();
        while !out.join("run.json").exists() {
            assert!(t.elapsed() < Duration::from_secs(30), "no run.json");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let done = scan(&out).arg("--resume").output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    // A different input is refused with a clear message.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "ok.example.test\n").unwrap();
    let refused = mxray()
        .args(["scan", "-q", "--resume", "--domains"])
        .arg(&other)
        .arg("--out")
        .arg(&out)
        .args(["--resolver", &f.resolver.to_string()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("same input"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "done");
    let resumes = manifest["resumes"].as_array().unwrap();
    assert_eq!(resumes.len(), 4, "{manifest}");
    assert_eq!(resumes[0]["previous_state"], "running");

    let strip = |rows: Vec<std::collections::BTreeMap<String, serde_json::Value>>| {
        rows.into_iter()
            .map(|mut r| {
                r.remove("scanned_at");
                r
            })
            .collect::<Vec<_>>()
    };
    for (table, key) in [("domains", "domain"), ("hosts", "ip")] {
        // by_key panics on a repeated row: every target exactly once.
        let want = common::by_key(strip(common::read_table(&whole, table)), key);
        let got = common::by_key(strip(common::read_table(&out, table)), key);
        assert_eq!(got.len(), want.len(), "{table}: rows");
        let mut unsettled = 0;
        for (k, w) in &want {
            let g = got.get(k).unwrap_or_else(|| panic!("{table} row {k} lost"));
            // A name under a delegation to a server that never answers (an SPF include of a dead
            // zone, say) ends as timeout or SERVFAIL, whichever the resolver says at that moment:
            // such a row must be there once, but two scans need not agree on its error text.
            let timed_out = |r: &std::collections::BTreeMap<String, serde_json::Value>| {
                serde_json::to_string(r).unwrap().contains("timeout")
            };
            if timed_out(w) || timed_out(g) {
                unsettled += 1;
                continue;
            }
            assert_eq!(g, w, "{table} row {k}");
        }
        assert!(
            unsettled * 20 <= want.len(),
            "{table}: {unsettled} of {} rows timed out in one of the scans",
            want.len()
        );
    }
    let rejects = |o: &std::path::Path| std::fs::read_to_string(o.join("rejects.csv")).unwrap();
    assert_eq!(rejects(&out), rejects(&whole), "each bad line once");
}

/// `--rpki-vrps` is read whole at startup: a malformed entry stops the scan before the output
/// directory is made or any query is sent, naming the file and the line or entry.
#[test]
fn rpki_vrps_are_checked_before_any_query() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["scan", "check"] {
        let help = mxray().args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(help.contains("--rpki-vrps <FILE>"), "{cmd} --help: {help}");
    }
    let asn = dir.path().join("asn.tsv");
    std::fs::write(&asn, "127.0.0.0\t127.255.255.255\t64500\tZZ\tTEST\n").unwrap();
    let csv = dir.path().join("vrps.csv");
    std::fs::write(
        &csv,
        "ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,127.0.0.0/8,8,x\nAS64500,127.0.0.0/8,7,x\n",
    )
    .unwrap();
    let json = dir.path().join("vrps.json");
    std::fs::write(
        &json,
        "{\"roas\": [\n{\"asn\": \"AS1\", \"prefix\": \"127.0.0.0/8\", \"maxLength\": 8},\n{\"asn\": \"AS1\", \"prefix\": \"127.0.0.0/8\"}\n]}",
    )
    .unwrap();
    let with_asn: &[&str] = &["--asn-db", asn.to_str().unwrap()];
    for (file, extra, msg) in [
        (
            &csv,
            with_asn,
            "vrps.csv: line 3: max length 7 outside 8..=32",
        ),
        (
            &json,
            with_asn,
            "vrps.json: JSON line 3, column 39, at roas[1]: missing field `maxLength`",
        ),
        (&csv, &[][..], "--rpki-vrps needs each address's origin AS"),
    ] {
        let out_dir = dir.path().join("o");
        let out = mxray()
            .args([
                "scan",
                "--domains",
                "-",
                "--resolver",
                "127.0.0.1:9",
                "--out",
            ])
            .arg(&out_dir)
            .args(extra)
            .arg("--rpki-vrps")
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(msg), "{msg}: {err}");
        assert!(!out_dir.exists(), "{msg}: the output directory was made");
    }
}
