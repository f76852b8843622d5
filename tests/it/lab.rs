//! A scan of the in-process lab, every domain's row against the lab's ground truth. Needs no
//! root and no fixtures: the lab listens on loopback only.

use std::collections::BTreeMap;

use crate::common::{by_key, read_table};
use mxray::lab::{Lab, LabOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY): on 2 cores this one's
// scans slowed a SIGTERM'd scan past its bound in CI. The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn lab_scan_matches_ground_truth() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(&LabOptions {
        domains: 400,
        seed: 5,
        dir: dir.path().join("lab"),
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let out = dir.path().join("out");
    let mut opts = crate::common::scan_options(&out, lab.dns);
    opts.targets = mxray::pipeline::Targets::Domains(lab.files.domains.display().to_string());
    opts.hosts.exclude = std::sync::Arc::new(mxray::targets::exclude::ExcludeList::defaults(true));
    opts.progress = mxray::pipeline::ProgressMode::Quiet;
    mxray::pipeline::scan(opts, mxray::pipeline::Stop::new())
        .await
        .unwrap();
    lab.stop().await;
    let rows = by_key(read_table(&out, "domains"), "domain");
    let mut truth = csv::Reader::from_path(dir.path().join("lab/truth.csv")).unwrap();
    let mut n = 0;
    // (column, truth's value) pairs met, so each comparison below is known to have had cases.
    let mut met = std::collections::BTreeSet::new();
    for t in truth.deserialize::<BTreeMap<String, String>>() {
        let t = t.unwrap();
        let r = &rows[&t["domain"]];
        let s = |c: &str| r[c].as_str().unwrap_or("").to_string();
        assert_eq!(s("mx_status"), t["mx_status"], "{} mx_status", t["domain"]);
        // In preference order, as SCHEMA.md says; null where there is none.
        let mx_ips: Vec<&str> = r["mx_ips"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(mx_ips.join(";"), t["mx_ips"], "{} mx_ips", t["domain"]);
        met.insert(("mx_ips", mx_ips.len().to_string()));
        for record in ["mta_sts", "tls_rpt", "bimi"] {
            let status = format!("{record}_status");
            assert_eq!(s(&status), t[&status], "{} {status}", t["domain"]);
            // The raw record, there exactly when the world publishes it and the zone answers.
            assert_eq!(
                (!r[record].is_null()).to_string(),
                t[record],
                "{} {record}: {}",
                t["domain"],
                r[record]
            );
            met.insert((record, t[&status].clone()));
        }
        assert_eq!(
            s("spf_status"),
            t["spf_status"],
            "{} spf_status",
            t["domain"]
        );
        assert_eq!(
            s("dmarc_status"),
            t["dmarc_status"],
            "{} dmarc_status",
            t["domain"]
        );
        assert_eq!(s("dmarc_p"), t["dmarc_p"], "{} dmarc_p", t["domain"]);
        if t["existence"] == "ok" {
            assert_eq!(
                r["mx_null"].as_bool().unwrap().to_string(),
                t["mx_null"],
                "{} mx_null",
                t["domain"]
            );
        }
        if !t["dkim_selectors"].is_empty() {
            let mut got: Vec<String> = r["dkim_selectors"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            got.sort();
            let want = match t["dkim_selectors"].as_str() {
                "-" => String::new(),
                w => w.to_string(),
            };
            assert_eq!(got.join(";"), want, "{} dkim_selectors", t["domain"]);
        }
        n += 1;
    }
    assert_eq!(n, 400);
    assert_eq!(rows.len(), 400);
    for record in ["mta_sts", "tls_rpt", "bimi"] {
        for status in ["valid", "none", "temperror"] {
            assert!(
                met.contains(&(record, status.to_string())),
                "no domain of the lab has {record}_status {status}: {met:?}"
            );
        }
    }
    for count in ["0", "1", "2"] {
        assert!(
            met.contains(&("mx_ips", count.to_string())),
            "no domain with {count} MX addresses: {met:?}"
        );
    }
}

/// The whole lab scanned as a user would (`mxray scan` with the lab's own arguments: hosts and
/// SMTP on), every address's row against truth-hosts.csv: reverse DNS, DNSBL, STARTTLS, TLS
/// version, certificate validity, open relay and catch-all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY): on 2 cores this one's
// scans slowed a SIGTERM'd scan past its bound in CI. The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn lab_hosts_and_smtp_match_ground_truth() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(&LabOptions {
        domains: 300,
        seed: 9,
        dir: dir.path().join("lab"),
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let out = dir.path().join("out");
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(lab.scan_args(&out))
        .arg("--quiet")
        .status()
        .await
        .unwrap();
    lab.stop().await;
    assert!(status.success(), "mxray scan of the lab: {status}");

    let rows = by_key(read_table(&out, "hosts"), "ip");
    let mut truth = csv::Reader::from_path(dir.path().join("lab/truth-hosts.csv")).unwrap();
    let (mut n, mut behaviours) = (0, BTreeMap::<String, usize>::new());
    for t in truth.deserialize::<BTreeMap<String, String>>() {
        let t = t.unwrap();
        let ip = &t["ip"];
        let r = rows
            .get(ip)
            .unwrap_or_else(|| panic!("{ip} ({}) has no hosts row", t["behaviour"]));
        let what = format!(
            "{ip} ({}; recipients {}; transcript {})",
            t["behaviour"], r["smtp_recipients"], r["smtp_transcript"]
        );
        // A boolean column as truth-hosts.csv writes it: "" for null.
        let b = |c: &str| r[c].as_bool().map(|b| b.to_string()).unwrap_or_default();
        let list = |c: &str| r[c].as_array().is_some_and(|a| !a.is_empty()).to_string();
        assert_eq!(b("fcrdns"), t["fcrdns"], "{what} fcrdns");
        assert_eq!(
            list("dnsbl_listed"),
            t["dnsbl_listed"],
            "{what} dnsbl_listed"
        );
        assert_eq!(
            list("dnsbl_errors"),
            t["dnsbl_error"],
            "{what} dnsbl_errors"
        );
        assert_eq!(b("starttls"), t["starttls"], "{what} starttls");
        assert_eq!(b("open_relay"), t["open_relay"], "{what} open_relay");
        assert_eq!(
            b("accepts_any_recipient"),
            t["accepts_any_recipient"],
            "{what} accepts_any_recipient"
        );
        assert_eq!(
            b("tls_cert_valid"),
            t["tls_cert_valid"],
            "{what} tls_cert_valid"
        );
        assert_eq!(
            r["tls_version"].as_str().unwrap_or(""),
            t["tls_version"],
            "{what} tls_version"
        );
        if t["behaviour"] == "no-listener" {
            assert_eq!(r["smtp_outcome"], "refused", "{what} smtp_outcome");
        }
        *behaviours.entry(t["behaviour"].clone()).or_default() += 1;
        n += 1;
    }
    assert_eq!(rows.len(), n, "hosts rows that the truth does not know");
    // Every scripted behaviour was met, so each comparison above had something to compare.
    for b in [
        "closed",
        "open",
        "catch-all",
        "greylist",
        "tarpit",
        "greeting-421",
        "no-listener",
    ] {
        assert!(behaviours.contains_key(b), "no {b} host in the world");
    }

    // `mxray report` on that scan: its figures against the lab's truth, as exact counts and as
    // the shares report.md prints (the issue asked for 0.1 point; counts are exact).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let read_truth = |file: &str| -> Vec<BTreeMap<String, String>> {
        csv::Reader::from_path(dir.path().join("lab").join(file))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect()
    };
    let (domains, hosts) = (read_truth("truth.csv"), read_truth("truth-hosts.csv"));
    // Truth's values of `col`, counted; an empty cell is the report's `null`.
    let tally = |rows: &[BTreeMap<String, String>], col: &str| {
        let mut t = BTreeMap::<String, u64>::new();
        for r in rows {
            let k = match r[col].as_str() {
                "" => "null".to_string(),
                v => v.to_string(),
            };
            *t.entry(k).or_default() += 1;
        }
        t
    };
    let count = |v: &serde_json::Value, k: &str| v.get(k).and_then(|c| c.as_u64()).unwrap_or(0);
    let d = &report["aggregates"]["domains"];
    let n = domains.len() as u64;
    assert_eq!(d["rows"], n);
    for col in ["spf_status", "dmarc_p"] {
        for (k, want) in tally(&domains, col) {
            assert_eq!(count(&d[col], &k), want, "report {col} {k}");
        }
    }
    let dkim = domains
        .iter()
        .filter(|t| !matches!(t["dkim_selectors"].as_str(), "" | "-"))
        .count() as u64;
    assert_eq!(d["dkim_with_selector"], dkim, "report DKIM");
    let null_mx = tally(&domains, "mx_null")["true"];
    assert_eq!(count(&d["mx_null"], "true"), null_mx, "report null MX");
    let h = &report["aggregates"]["hosts"];
    assert_eq!(h["rows"], hosts.len() as u64);
    // The report counts these over the hosts where they were measured: true and false alike.
    for col in [
        "fcrdns",
        "starttls",
        "open_relay",
        "tls_cert_valid",
        "accepts_any_recipient",
    ] {
        let t = tally(&hosts, col);
        for k in ["true", "false"] {
            let want = t.get(k).copied().unwrap_or(0);
            assert_eq!(count(&h[col], k), want, "report {col} {k}");
        }
    }
    let listed = tally(&hosts, "dnsbl_listed")["true"];
    assert_eq!(h["dnsbl_listed_any"], listed, "report DNSBL listings");
    for (v, want) in tally(&hosts, "tls_version") {
        if v != "null" {
            assert_eq!(count(&h["tls_version"], &v), want, "report tls_version {v}");
        }
    }
    let relay = tally(&hosts, "open_relay");
    let (open, judged) = (relay["true"], relay["true"] + relay["false"]);
    assert!(open > 0 && dkim > 0 && null_mx > 0, "the lab has each case");
    use mxray::report::figures::{num, share};
    for (what, k, of) in [
        (
            "SPF record valid",
            tally(&domains, "spf_status")["valid"],
            n,
        ),
        ("DKIM key under a probed selector", dkim, n),
        ("null MX (RFC 7505)", null_mx, n),
        ("open relays (of hosts with a relay verdict)", open, judged),
    ] {
        let line = format!("| {what} | {} | {} |", num(k), share(k, of));
        assert!(md.contains(&line), "{line} not in report.md");
    }
}

/// `--ips --resume` after SIGKILL at several moments, on the lab's addresses (own hosts with and
/// without PTR or listing, the pool's SMTP listeners, the tarpit among them): the union holds
/// every address once and equals one uninterrupted scan's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock orders whole tests (each has its own runtime), not tasks of one runtime: nothing on
// this runtime waits for it.
#[allow(clippy::await_holding_lock)]
async fn address_scan_resume_after_sigkill_loses_and_repeats_nothing() {
    use std::time::{Duration, Instant};
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(&LabOptions {
        domains: 3000,
        seed: 21,
        dir: dir.path().join("lab"),
        ..LabOptions::default()
    })
    .await
    .unwrap();
    let mut ips = String::from("127.100.0.0/21");
    for h in 0..mxray::lab::world::POOL.len() {
        ips += &format!(",{}", mxray::lab::world::pool_ip(h));
    }
    let base: Vec<String> = {
        let mut a = lab.scan_args(&dir.path().join("unused"));
        let at = a.iter().position(|a| a == "--domains").unwrap();
        a.splice(at..at + 2, ["--ips".to_string(), ips]);
        let at = a.iter().position(|a| a == "--out").unwrap();
        a.drain(at..at + 2);
        // --smtp-recipients needs a domain; an address scan has none.
        a.retain(|a| a != "--smtp-recipients");
        a.extend(["-q", "--flush-interval", "100ms"].map(String::from));
        a
    };
    let scan = move |out: &std::path::Path| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"));
        c.args(&base).arg("--out").arg(out);
        c
    };
    let (whole, out) = (dir.path().join("whole"), dir.path().join("resumed"));
    let (w, o) = (whole.clone(), out.clone());
    let resumed = tokio::task::spawn_blocking(move || {
        let s = scan(&w).output().unwrap();
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        for (run, wait_ms) in [200u64, 900, 500].into_iter().enumerate() {
            let mut c = scan(&o);
            if run > 0 {
                c.arg("--resume");
            }
            let mut child = c.spawn().unwrap();
            let t = Instant::now();
            while !o.join("run.json").exists() {
                assert!(t.elapsed() < Duration::from_secs(30), "no run.json");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(wait_ms));
            child.kill().unwrap();
            child.wait().unwrap();
        }
        scan(&o).arg("--resume").output().unwrap()
    })
    .await
    .unwrap();
    lab.stop().await;
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["state"], "done");
    assert_eq!(
        manifest["resumes"].as_array().unwrap().len(),
        3,
        "{manifest}"
    );
    // Times differ from run to run; the rest of a row is what the lab made it.
    let strip = |rows: Vec<BTreeMap<String, serde_json::Value>>| {
        rows.into_iter()
            .map(|mut r| {
                r.remove("scanned_at");
                r.remove("smtp_session_ms");
                r
            })
            .collect::<Vec<_>>()
    };
    // by_key panics on a repeated row: every address exactly once.
    let want = by_key(strip(read_table(&whole, "hosts")), "ip");
    let got = by_key(strip(read_table(&out, "hosts")), "ip");
    assert_eq!(want.len(), 2048 + mxray::lab::world::POOL.len());
    assert_eq!(got.len(), want.len(), "rows");
    for (ip, w) in &want {
        let g = got.get(ip).unwrap_or_else(|| panic!("row {ip} lost"));
        assert_eq!(g, w, "row {ip}");
    }
    assert!(
        want.values().any(|r| r["open_relay"] == true),
        "no open relay among the addresses: the SMTP stage did not run"
    );
}
