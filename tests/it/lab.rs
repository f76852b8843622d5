//! A scan of the in-process lab, every domain's row against the lab's ground truth. Needs no
//! root and no fixtures: the lab listens on loopback only.

use std::collections::BTreeMap;

use crate::common::{by_key, read_table};
use mxray::lab::{Lab, LabOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_scan_matches_ground_truth() {
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
    for t in truth.deserialize::<BTreeMap<String, String>>() {
        let t = t.unwrap();
        let r = &rows[&t["domain"]];
        let s = |c: &str| r[c].as_str().unwrap_or("").to_string();
        assert_eq!(s("mx_status"), t["mx_status"], "{} mx_status", t["domain"]);
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
}

/// The whole lab scanned as a user would (`mxray scan` with the lab's own arguments: hosts and
/// SMTP on), every address's row against truth-hosts.csv: reverse DNS, DNSBL, STARTTLS, TLS
/// version, certificate validity, open relay and catch-all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_hosts_and_smtp_match_ground_truth() {
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
}
