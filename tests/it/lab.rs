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
