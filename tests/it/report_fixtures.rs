//! `mxray report` on real scans of the generated world: its figures against the generator's truth
//! (expected.jsonl), and the report of the same scan done as 4 shards against the unsharded one.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mxray::pipeline::host::HostOptions;
use mxray::pipeline::{ScanOptions, Targets, scan};
use mxray::report::figures::share;
use mxray::targets::exclude::ExcludeList;
use mxray::targets::shard::Shard;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Domains of the world scanned: the first ones of expected.jsonl, so the test stays in seconds.
const DOMAINS: usize = 2000;

fn options(input: &Path, out: &Path, resolver: std::net::SocketAddr, shard: Shard) -> ScanOptions {
    let mut o = common::scan_options(out, resolver);
    o.targets = Targets::Domains(input.to_str().unwrap().to_string());
    o.shard = shard;
    // Several parts per scan, so the report merges parts within a directory too.
    o.writer.max_rows = 300;
    o.hosts = HostOptions {
        exclude: std::sync::Arc::new(ExcludeList::defaults(true)),
        ..HostOptions::default()
    };
    o
}

/// The truth of the domains scanned, in input order.
fn truth(world: &Path) -> Vec<Value> {
    std::fs::read_to_string(world.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        // A delegation to a server that never answers ends as timeout or SERVFAIL, whichever the
        // resolver says at that moment: two scans of it need not agree, so it stays out of a test
        // that compares two scans row for row.
        .filter(|v| v["mx_status"] != "timeout")
        .take(DOMAINS)
        .collect()
}

fn mxray_report(inputs: &[PathBuf], out: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .arg("report")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mxray report: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn count(c: &Value, k: &str) -> u64 {
    c.get(k).and_then(Value::as_u64).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY): on 2 cores this one's
// scans slowed a SIGTERM'd scan past its bound in CI. The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn report_figures_match_the_world_and_shards_merge_to_the_unsharded_report() {
    let _heavy = crate::common::heavy();
    let Some(f) = common::fixtures("report_world") else {
        return;
    };
    let want = truth(&f.world);
    assert_eq!(want.len(), DOMAINS, "world too small");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let names: Vec<&str> = want.iter().map(|v| v["domain"].as_str().unwrap()).collect();
    std::fs::write(&input, names.join("\n")).unwrap();

    let one = dir.path().join("one");
    scan(
        options(&input, &one, f.resolver, Shard::new(0, 1).unwrap()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut shards = Vec::new();
    for i in 0..4 {
        let out = dir.path().join(format!("shard{i}"));
        scan(
            options(&input, &out, f.resolver, Shard::new(i, 4).unwrap()),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        shards.push(out);
    }

    let single = mxray_report(std::slice::from_ref(&one), &one);
    let merged = mxray_report(&shards, &dir.path().join("merged"));

    // The figures against the generator's truth: exact counts (the truth is exact).
    let d = &single["aggregates"]["domains"];
    let n = want.len() as u64;
    assert_eq!(d["rows"], n);
    let truth_count =
        |pred: &dyn Fn(&Value) -> bool| want.iter().filter(|v| pred(v)).count() as u64;
    let spf_valid = truth_count(&|v| v["spf_status"] == "valid");
    assert_eq!(count(&d["spf_status"], "valid"), spf_valid, "SPF valid");
    let mut p_want: BTreeMap<String, u64> = BTreeMap::new();
    for v in &want {
        let k = v["dmarc_p"].as_str().unwrap_or("null").to_string();
        *p_want.entry(k).or_default() += 1;
    }
    for (k, w) in &p_want {
        assert_eq!(count(&d["dmarc_p"], k), *w, "dmarc_p {k}");
    }
    assert_eq!(
        d["dmarc_p"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        n
    );
    let dkim = truth_count(&|v| {
        v["dkim_selectors"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(d["dkim_with_selector"], dkim, "DKIM");
    let null_mx = truth_count(&|v| v["mx_null"] == true);
    assert_eq!(count(&d["mx_null"], "true"), null_mx, "null MX");
    assert!(spf_valid > 0 && dkim > 0 && null_mx > 0 && p_want.len() == 4);

    // What readers see: the same figures, with their denominators.
    let md = std::fs::read_to_string(one.join("report.md")).unwrap();
    for (what, k) in [
        ("SPF record valid", spf_valid),
        ("null MX (RFC 7505)", null_mx),
    ] {
        let line = format!(
            "| {what} | {} | {} |",
            mxray::report::figures::num(k),
            share(k, n)
        );
        assert!(md.contains(&line), "{line} not in report.md");
    }
    let reject = p_want["reject"];
    assert!(
        md.contains(&format!(
            "| reject | {} | {} |",
            mxray::report::figures::num(reject),
            share(reject, n)
        )),
        "dmarc_p reject"
    );
    let html = std::fs::read_to_string(one.join("report.html")).unwrap();
    for id in ["chart-dmarc-p", "chart-spf-lookups", "chart-spf-ipv4-cdf"] {
        assert!(
            html.contains(&format!("<figure id=\"{id}\"><svg")),
            "{id} is not an inline SVG figure"
        );
    }
    assert!(!html.contains("<script"));

    // One readiness row per domain.
    let readiness = common::read_table(&one, "readiness");
    assert_eq!(readiness.len() as u64, n);
    let judged = &single["aggregates"]["readiness"]["ready"];
    assert_eq!(
        judged
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        n
    );

    // Four shards, one report: the same aggregates as the unsharded scan.
    assert_eq!(merged["reading"]["inputs"].as_array().unwrap().len(), 4);
    assert!(merged["reading"]["domain_parts"].as_u64().unwrap() >= 4);
    // The shared MX pool is probed by every shard: its copies are what the merge must drop.
    assert!(merged["reading"]["host_duplicates"].as_u64().unwrap() > 0);
    assert_eq!(single["reading"]["host_duplicates"], 0);
    if single["aggregates"] != merged["aggregates"] {
        let (a, b) = (&single["aggregates"], &merged["aggregates"]);
        let mut diffs = Vec::new();
        for t in ["domains", "hosts", "readiness"] {
            for (k, v) in a[t].as_object().unwrap() {
                if b[t][k] != *v {
                    diffs.push(format!("{t}.{k}: unsharded {v} sharded {}", b[t][k]));
                }
            }
        }
        panic!("sharded report differs: {diffs:#?}");
    }
    assert!(single["aggregates"]["hosts"]["rows"].as_u64().unwrap() > 0);
}
