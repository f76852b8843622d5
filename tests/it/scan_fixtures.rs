//! Whole scans against the real DNS fixtures: the hand-written example.test zone (each case
//! checked by hand below) and the generated world (100k domains, checked against the generator's
//! expected.jsonl), read back from the Parquet parts the scan wrote.

use crate::common;
use crate::common::{Faulty, Pick};

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use mxray::dns::EngineOptions;
use mxray::output::{Formats, WriterOptions};
use mxray::pipeline::host::HostOptions;
use mxray::pipeline::stage::Probe;
use mxray::pipeline::{ProbeLayer, ScanOptions, Targets, scan, scan_with};
use mxray::targets::exclude::ExcludeList;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn options(input: &str, out: &std::path::Path, resolver: std::net::SocketAddr) -> ScanOptions {
    ScanOptions {
        targets: Targets::Domains(input.to_string()),
        out: out.to_path_buf(),
        engine: EngineOptions {
            servers: vec![resolver],
            timeout: Duration::from_secs(2),
            retries: 2,
            ..EngineOptions::default()
        },
        writer: WriterOptions {
            formats: Formats {
                parquet: true,
                csv: true,
            },
            flush_interval: Duration::from_millis(500),
            max_rows: 20_000,
            ..WriterOptions::default()
        },
        hosts: HostOptions {
            exclude: std::sync::Arc::new(ExcludeList::defaults(true)),
            ..HostOptions::default()
        },
        ..ScanOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_zone_rows_hold_the_right_statuses_and_records() {
    let Some(f) = common::fixtures("example_zone") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let mut w = std::fs::File::create(&input).unwrap();
    writeln!(
        w,
        "# the example.test cases\n\
         ok.example.test\n\
         nodata.example.test\n\
         missing.example.test\n\
         nullmx.example.test\n\
         multispf.example.test\n\
         split.example.test\n\
         badmarc.example.test\n\
         twodmarc.example.test\n\
         big.example.test\n\
         cname.example.test\n\
         B\u{fc}cher.Example.Test.\n\
         broken.example.test\n\
         mixmx.example.test\n\
         \n\
         not a domain!\n\
         OK.EXAMPLE.TEST.\n\
         localhost"
    )
    .unwrap();
    drop(w);
    let out = dir.path().join("out");
    let m = scan(
        options(input.to_str().unwrap(), &out, f.resolver),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(m.counts.domains_scanned, 13);
    assert_eq!((m.counts.rejects, m.counts.duplicates), (2, 1));
    assert!(!m.interrupted);

    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    assert_eq!(rows.len(), 13);
    let get = |d: &str, c: &str| rows[d][c].clone();

    let ok = &rows["ok.example.test"];
    assert_eq!(ok["mx_status"], "ok");
    assert_eq!(
        ok["mx"],
        json!([[10, "mx1.ok.example.test"], [20, "mx2.ok.example.test"]])
    );
    assert_eq!(ok["mx_null"], false);
    assert_eq!(ok["mx_ips"], json!(["127.0.0.10", "127.0.0.11", "::1"]));
    assert_eq!(ok["mx_ips_status"], "ok");
    assert_eq!(ok["spf_status"], "valid");
    assert_eq!(
        ok["spf_records"],
        json!(["v=spf1 mx ip4:127.0.0.0/24 -all"])
    );
    assert_eq!(ok["dmarc_status"], "valid");
    assert_eq!(ok["dmarc_source"], "domain");
    assert_eq!(ok["dmarc_p"], "reject");
    assert_eq!(ok["dmarc_sp"], "quarantine");
    assert_eq!(ok["dmarc_pct"], 50);
    assert_eq!(
        ok["dmarc_rua"],
        json!(["mailto:agg@ok.example.test", "mailto:b@ok.example.test"])
    );
    assert!(ok["scanned_at"].as_i64().unwrap() > 1_700_000_000_000);

    // DANE: only mx1 publishes TLSA; the resolver does not validate, so not authentic.
    assert_eq!(ok["dane_status"], "ok");
    assert_eq!(ok["dane_tlsa"], json!(["mx1.ok.example.test: 3 1 1"]));
    assert_eq!(ok["dane_all_mx"], false);
    assert_eq!(ok["dane_authentic"], false);
    assert_eq!(get("multispf.example.test", "dane_all_mx"), true);
    assert_eq!(get("nodata.example.test", "dane_status"), Value::Null);

    // The name exists without MX or TXT: nodata, never a failure.
    assert_eq!(get("nodata.example.test", "mx_status"), "nodata");
    assert_eq!(get("nodata.example.test", "mx"), json!([]));
    assert_eq!(get("nodata.example.test", "mx_ips_status"), Value::Null);
    assert_eq!(get("nodata.example.test", "spf_status"), "none");
    assert_eq!(get("nodata.example.test", "dmarc_status"), "none");

    assert_eq!(get("missing.example.test", "mx_status"), "nxdomain");
    assert_eq!(get("missing.example.test", "spf_status"), "none");
    assert_eq!(get("missing.example.test", "mx_null"), false);

    assert_eq!(get("nullmx.example.test", "mx_null"), true);
    assert_eq!(get("nullmx.example.test", "mx"), json!([[0, ""]]));
    assert_eq!(get("nullmx.example.test", "mx_ips"), json!([]));
    assert_eq!(get("nullmx.example.test", "dmarc_p"), "reject");

    assert_eq!(get("mixmx.example.test", "mx_null"), false);
    let errs = get("mixmx.example.test", "mx_errors");
    assert!(
        errs[0].as_str().unwrap().starts_with("null-mx-mixed:"),
        "{errs}"
    );

    assert_eq!(get("multispf.example.test", "spf_status"), "permerror");
    assert_eq!(
        get("multispf.example.test", "spf_records"),
        json!(["v=spf1 -all", "v=spf1 ip4:127.0.0.3 -all"])
    );
    assert!(
        get("multispf.example.test", "spf_errors")[0]
            .as_str()
            .unwrap()
            .starts_with("multiple-records:")
    );

    assert_eq!(
        get("split.example.test", "spf_records"),
        json!(["v=spf1 ip4:127.0.0.0/8 include:ok.example.test -all"])
    );

    assert_eq!(get("badmarc.example.test", "dmarc_status"), "invalid");
    assert_eq!(get("badmarc.example.test", "dmarc_p"), Value::Null);
    assert_eq!(
        get("badmarc.example.test", "dmarc_record"),
        "v=DMARC1; rua=mailto:x@badmarc.example.test"
    );
    assert_eq!(get("twodmarc.example.test", "dmarc_status"), "invalid");

    // Over UDP the TXT RRset is truncated; the row holds what TCP returned.
    assert_eq!(get("big.example.test", "spf_status"), "valid");
    assert_eq!(
        get("big.example.test", "spf_records"),
        json!(["v=spf1 ip4:127.0.0.1 -all"])
    );
    assert!(m.dns.tcp_fallbacks >= 1);

    assert_eq!(get("cname.example.test", "mx_status"), "ok");
    assert_eq!(get("xn--bcher-kva.example.test", "mx_status"), "ok");
    assert_eq!(get("xn--bcher-kva.example.test", "spf_status"), "valid");

    // A DNS failure is a failure in every derived field, never "no record".
    let b = &rows["broken.example.test"];
    assert_eq!(b["mx_status"], "servfail");
    assert_eq!(b["mx"], Value::Null);
    assert_eq!(b["mx_null"], Value::Null);
    assert_eq!(b["mx_ips"], Value::Null);
    assert_eq!(b["spf_status"], "temperror");
    assert_eq!(b["spf_records"], Value::Null);
    assert_eq!(b["dmarc_status"], "temperror");

    // One hosts row per distinct MX address.
    let hosts = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(
        hosts.keys().collect::<Vec<_>>(),
        ["127.0.0.10", "127.0.0.11", "::1"]
    );

    let rejects = std::fs::read_to_string(out.join("rejects.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,text,reason");
    assert!(lines[1].starts_with("16,not a domain!,"), "{rejects}");
    assert!(lines[2].starts_with("18,localhost,"), "{rejects}");

    // CSV beside Parquet, same columns.
    let csv = std::fs::read_to_string(out.join("domains.csv")).unwrap();
    assert_eq!(csv.lines().count(), 14);
    assert!(csv.lines().any(|l| l.starts_with("ok.example.test,")
        && l.contains(",10 mx1.ok.example.test;20 mx2.ok.example.test,")));

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["domains_scanned"], 13);
    assert_eq!(manifest["status_counts"]["mx_status"]["servfail"], 1);
    assert!(manifest["cache"]["hit_rate"].as_f64().unwrap() > 0.0);
    // What the scan cost: the process's CPU, and per query the same over the queries asked.
    let cpu = &manifest["cpu"];
    let (user, system) = (
        cpu["user_s"].as_f64().unwrap(),
        cpu["system_s"].as_f64().unwrap(),
    );
    assert!(user + system > 0.0, "{cpu}");
    let queries = manifest["dns"]["queries"].as_f64().unwrap();
    let per_query = cpu["per_query_us"].as_f64().unwrap();
    assert!(
        (per_query - (user + system) * 1e6 / queries).abs() < 1e-6 * per_query,
        "{cpu}"
    );

    // A second scan into the same directory is refused rather than mixed in.
    let again = scan(
        options(input.to_str().unwrap(), &out, f.resolver),
        CancellationToken::new(),
    )
    .await;
    assert!(again.is_err());
}

fn expected_world(path: &std::path::Path) -> BTreeMap<String, Value> {
    std::fs::read_to_string(path.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["domain"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a = a.clone();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_world_every_domain_has_the_expected_row() {
    let Some(f) = common::fixtures("generated_world") else {
        return;
    };
    let expected = expected_world(&f.world);
    assert!(
        expected.len() >= 1000,
        "world too small: {}",
        expected.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = f.world.join("domains.txt");
    let m = scan(
        options(input.to_str().unwrap(), &out, f.resolver),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    eprintln!(
        "world: {} domains in {:.1}s = {:.0} domains/s, {} queries, cache hit rate {:.3}",
        m.counts.domains_scanned,
        m.duration_s,
        m.rates.targets_per_s,
        m.dns.queries,
        m.cache.hit_rate
    );
    // The query budget: at most 12 queries per domain on average on this world, where a quarter of
    // the domains publish DKIM keys (issue 10). Each domain with a `_domainkey` subtree costs its
    // probe plan (its providers' selectors and the short common list); every other existing
    // domain's `_domainkey` is NXDOMAIN and its probes are saved (RFC 8020).
    let per_domain = m.dns.queries as f64 / m.counts.domains_scanned as f64;
    assert!(per_domain <= 12.0, "{per_domain:.2} queries per domain");
    let no_subtree = expected
        .values()
        .filter(|e| {
            e["dkim_subtree"] == json!(false)
                && !matches!(
                    e["mx_status"].as_str(),
                    Some("nxdomain" | "servfail" | "timeout")
                )
        })
        .count() as u64;
    assert!(
        m.counts.dkim_probes_saved
            >= no_subtree * mxray::checks::dkim::COMMON_SELECTORS.len() as u64,
        "{} probes saved for {no_subtree} domains without a _domainkey subtree",
        m.counts.dkim_probes_saved
    );
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    assert_eq!(
        rows.len(),
        expected.len(),
        "one row per distinct valid domain"
    );

    let mut mismatches = Vec::new();
    let mut dead_domains = 0u64;
    for (domain, want) in &expected {
        let Some(got) = rows.get(domain) else {
            mismatches.push(format!("{domain}: no row"));
            continue;
        };
        // A delegation to a server that never answers: the resolver keeps trying, so its client
        // times out, or gets SERVFAIL once the resolver has marked the server down. Either is the
        // truth; anything else (or a timeout anywhere else) is a measurement error.
        let dead = want["mx_status"] == "timeout";
        if dead {
            dead_domains += 1;
            if !matches!(got["mx_status"].as_str(), Some("timeout" | "servfail")) {
                mismatches.push(format!(
                    "{domain} mx_status: got {} want timeout or servfail",
                    got["mx_status"]
                ));
            }
        } else {
            for (col, v) in got {
                if col.ends_with("_status") && v == "timeout" {
                    mismatches.push(format!(
                        "{domain} {col}: timeout for a name the world answers"
                    ));
                }
            }
        }
        // The generator writes false where the data is unknown; the scan must say null there.
        let failed = !matches!(
            got["mx_status"].as_str(),
            Some("ok" | "nodata" | "nxdomain")
        );
        let want_null = if failed {
            Value::Null
        } else {
            want["mx_null"].clone()
        };
        if got["mx_null"] != want_null {
            mismatches.push(format!(
                "{domain} mx_null: got {} want {want_null}",
                got["mx_null"]
            ));
        }
        let mut cols = vec![
            "spf_status",
            "dmarc_status",
            "dmarc_p",
            "mta_sts_status",
            "tls_rpt_status",
            "bimi_status",
        ];
        if !dead {
            // soa_rname: the contact of a domain that is a zone apex (an escaped dot in its local
            // part too); null where the SOA query has no answer
            cols.extend(["mx_status", "soa_rname"]);
        }
        for col in cols {
            if got[col] != want[col] {
                mismatches.push(format!(
                    "{domain} {col}: got {} want {}",
                    got[col], want[col]
                ));
            }
        }
        for col in ["mx", "mx_ips", "spf_records", "dkim_selectors"] {
            // Unknown (null) lists are compared as empty with the generator, which has no null;
            // the status columns above already say whether the data is known.
            let empty_if_null = |v: &Value| if v.is_null() { json!([]) } else { sorted(v) };
            if empty_if_null(&got[col]) != empty_if_null(&want[col]) {
                mismatches.push(format!(
                    "{domain} {col}: got {} want {}",
                    got[col], want[col]
                ));
            }
        }
    }
    // The errors columns of the first domains that differ, to tell a timeout from a SERVFAIL.
    let mut details = Vec::new();
    for m in mismatches.iter().take(20) {
        let domain = m.split(' ').next().unwrap_or_default();
        if let Some(got) = rows.get(domain) {
            for col in ["mx_errors", "spf_errors", "dmarc_errors"] {
                if got[col].as_array().is_some_and(|a| !a.is_empty()) {
                    details.push(format!("{domain} {col}: {}", got[col]));
                }
            }
        }
    }
    details.dedup();
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:#?}\n{details:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(20)]
    );

    // Timeouts only where nothing answers: at most the dozen questions of each dead domain, and
    // the SPF include into the silent zone, which the cache asks once at a time.
    assert!(dead_domains > 0);
    assert!(
        m.dns.by_status["timeout"] <= 12 * dead_domains + 100,
        "{} queries timed out for {dead_domains} dead domains",
        m.dns.by_status["timeout"]
    );

    // Rejects: the same line numbers and texts as the generator's list.
    let want_rejects = std::fs::read_to_string(f.world.join("expected_rejects.csv")).unwrap();
    let mut want = csv::Reader::from_reader(want_rejects.as_bytes());
    let want: Vec<(u64, String)> = want
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].to_string())
        })
        .collect();
    let mut got = csv::Reader::from_path(out.join("rejects.csv")).unwrap();
    let got: Vec<(u64, String)> = got
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].to_string())
        })
        .collect();
    assert_eq!(got, want);

    // Hosts: one row per distinct MX address of the whole world.
    let hosts = common::read_table(&out, "hosts");
    let distinct: std::collections::BTreeSet<&str> = expected
        .values()
        .flat_map(|v| {
            v["mx_ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
        })
        .collect();
    assert_eq!(hosts.len(), distinct.len());
    // Shared provider records and MX hosts are fetched once: far fewer queries than lookups.
    assert!(m.cache.hit_rate > 0.2, "hit rate {}", m.cache.hit_rate);
}

/// Every SPF column of the SPF trees in the example.test zone (tests/fixtures/up.sh), worked out by
/// hand from the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_trees_columns_worked_out_by_hand() {
    let Some(f) = common::fixtures("spf_trees") else {
        return;
    };
    // domain, status, all, lookups, void, ipv4 authorized, flags, first error code, include tree
    type Case<'a> = (
        &'a str,
        &'a str,
        Value,
        Value,
        Value,
        Value,
        &'a [&'a str],
        Option<&'a str>,
        &'a [&'a str],
    );
    let n = Value::Null;
    let cases: Vec<Case> = vec![
        // mx -> 127.0.0.10, 127.0.0.11 (and ::1), all inside 127.0.0.0/24: 256.
        (
            "ok.example.test",
            "valid",
            json!("fail"),
            json!(1),
            json!(0),
            json!(256),
            &[],
            None,
            &[],
        ),
        // Two strings joined; /8 plus an include whose addresses lie inside it.
        (
            "split.example.test",
            "valid",
            json!("fail"),
            json!(2),
            json!(0),
            json!(16777216),
            &["wide_ranges"],
            None,
            &["1 ok.example.test"],
        ),
        (
            "nullmx.example.test",
            "valid",
            json!("fail"),
            json!(0),
            json!(0),
            json!(0),
            &[],
            None,
            &[],
        ),
        // Several records: permerror, both kept, no walk so no counts.
        (
            "multispf.example.test",
            "permerror",
            n.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
            &[],
            Some("multiple-records"),
            &[],
        ),
        // /16 and a /24 inside it, then another /24 inside it and one more address: 65537.
        (
            "spf-inc.example.test",
            "valid",
            json!("softfail"),
            json!(2),
            json!(0),
            json!(65537),
            &[],
            None,
            &["1 _spf.prov.example.test", "1 _spf2.prov.example.test"],
        ),
        // The all of the redirect target ends evaluation.
        (
            "spf-redir.example.test",
            "valid",
            json!("fail"),
            json!(1),
            json!(0),
            json!(65536),
            &[],
            None,
            &["1 _spf.prov.example.test"],
        ),
        // 2 includes + 10 + 11 a-terms = 23, counted on past 10; 21 distinct addresses.
        (
            "spf-over.example.test",
            "permerror",
            json!("fail"),
            json!(23),
            json!(0),
            json!(21),
            &[],
            Some("lookup-limit"),
            &["1 o1.spf.example.test", "1 o2.spf.example.test"],
        ),
        (
            "spf-void.example.test",
            "permerror",
            json!("fail"),
            json!(3),
            json!(3),
            json!(1),
            &[],
            Some("void-limit"),
            &[],
        ),
        (
            "spf-plusall.example.test",
            "valid",
            json!("pass"),
            json!(0),
            json!(0),
            json!(4294967296u64),
            &["plus_all"],
            None,
            &[],
        ),
        // exists with a macro cannot be enumerated.
        (
            "spf-macro.example.test",
            "valid",
            json!("fail"),
            json!(1),
            json!(0),
            n.clone(),
            &[],
            None,
            &[],
        ),
        (
            "spf-loop.example.test",
            "permerror",
            json!("fail"),
            json!(1),
            json!(0),
            json!(0),
            &["loop"],
            Some("include-loop"),
            &["1 spf-loop.example.test"],
        ),
        (
            "spf-ptr.example.test",
            "valid",
            json!("neutral"),
            json!(1),
            json!(0),
            n.clone(),
            &["neutral_all", "ptr_used"],
            None,
            &[],
        ),
        // Still publishes the obsolete type 99 record (asked with spf_type99 on).
        (
            "spf99.example.test",
            "valid",
            json!("fail"),
            json!(0),
            json!(0),
            json!(0),
            &["spf_type99"],
            None,
            &[],
        ),
        (
            "spf-syntax.example.test",
            "permerror",
            n.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
            &[],
            Some("syntax"),
            &[],
        ),
        // RFC 7208 5.2: an include or redirect whose zone never answers is temperror, not
        // valid; the walk's figures stay.
        (
            "spf-deadinc.example.test",
            "temperror",
            json!("fail"),
            json!(1),
            json!(0),
            n.clone(),
            &[],
            Some("dns-temperror"),
            &["1 _spf.broken.example.test"],
        ),
        (
            "spf-deadredir.example.test",
            "temperror",
            n.clone(),
            json!(1),
            json!(0),
            n.clone(),
            &[],
            Some("dns-temperror"),
            &["1 _spf.broken.example.test"],
        ),
        // A failed TXT lookup: temperror, nothing derived.
        (
            "broken.example.test",
            "temperror",
            n.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
            &[],
            Some("dns-temperror"),
            &[],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let list: Vec<&str> = cases.iter().map(|c| c.0).collect();
    std::fs::write(&input, list.join("\n")).unwrap();
    let out = dir.path().join("out");
    let mut o = options(input.to_str().unwrap(), &out, f.resolver);
    o.domain.spf_type99 = true;
    scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    for (domain, status, all, lookups, void, v4, flags, error, tree) in cases {
        let r = &rows[domain];
        assert_eq!(r["spf_status"], status, "{domain}");
        assert_eq!(r["spf_all"], all, "{domain} all");
        assert_eq!(r["spf_lookups"], lookups, "{domain} lookups");
        assert_eq!(r["spf_void_lookups"], void, "{domain} void");
        assert_eq!(r["spf_ipv4_authorized"], v4, "{domain} ipv4");
        assert_eq!(r["spf_flags"], json!(flags), "{domain} flags");
        assert_eq!(r["spf_include_tree"], json!(tree), "{domain} tree");
        let errors = r["spf_errors"].as_array().unwrap();
        match error {
            Some(code) => assert!(
                errors[0]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{code}: ")),
                "{domain}: {errors:?}"
            ),
            None => assert!(errors.is_empty(), "{domain}: {errors:?}"),
        }
    }
    // The domain's own MX addresses (127.0.0.10, .11, ::1) all pass its `mx` term.
    assert_eq!(rows["ok.example.test"]["spf_mx_pass"], true);
    // No MX: nothing to check.
    assert_eq!(rows["split.example.test"]["spf_mx_pass"], Value::Null);
    assert_eq!(rows["ok.example.test"]["spf_ipv6_prefixes"], 1);
}

/// Wraps the scan's own probes: the domain probe panics for one name, the host probe for one
/// address, through the probe interface (no test branch in the scan).
struct PanicOn {
    domain: &'static str,
    ip: std::net::IpAddr,
}

impl ProbeLayer for PanicOn {
    fn layer<P: Probe>(&self, inner: P) -> impl Probe<Target = P::Target, Output = P::Output> {
        let (domain, ip) = (self.domain, self.ip);
        let pick: Pick = match inner.name() {
            "domains" => Box::new(move |t| {
                let t = t.downcast_ref::<String>().filter(|t| *t == domain)?;
                Some(format!("for {t:?}"))
            }),
            "hosts" => Box::new(move |t| {
                let t = t.downcast_ref::<std::net::IpAddr>().filter(|t| **t == ip)?;
                Some(format!("for {t:?}"))
            }),
            _ => Box::new(|_| None),
        };
        Faulty::new(inner, pick)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_probe_leaves_an_error_row_and_a_count() {
    let Some(f) = common::fixtures("panicking_probe") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "ok.example.test\nnullmx.example.test\nmultispf.example.test\nmixmx.example.test\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    // Find the address first: one of ok.example.test's MX addresses gets the host-stage fault.
    let clean = scan(
        options(input.to_str().unwrap(), &out, f.resolver),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(clean.counts.panicked, 0);
    let clean_rows = common::by_key(common::read_table(&out, "domains"), "domain");
    let ips = clean_rows["ok.example.test"]["mx_ips"]
        .as_array()
        .unwrap()
        .clone();
    let ip: std::net::IpAddr = ips[0].as_str().unwrap().parse().unwrap();
    let clean_hosts = common::by_key(common::read_table(&out, "hosts"), "ip");

    let mut o = options(input.to_str().unwrap(), &out, f.resolver);
    o.overwrite = true;
    let m = scan_with(
        o,
        CancellationToken::new(),
        PanicOn {
            domain: "multispf.example.test",
            ip,
        },
    )
    .await
    .unwrap();
    assert_eq!(m.counts.panicked, 2, "one domain and one host");
    let stage = |name: &str| m.stages.iter().find(|s| s.name == name).unwrap().clone();
    assert_eq!((stage("domains").panicked, stage("hosts").panicked), (1, 1));
    assert_eq!(stage("domains").done, 4, "no domain is lost");
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    assert_eq!(rows.len(), 4);
    let r = &rows["multispf.example.test"];
    assert_eq!(r["domain_status"], "error");
    assert_eq!(
        r["domain_error"],
        "panicked: injected fault for \"multispf.example.test\""
    );
    for col in [
        "mx_status",
        "spf_status",
        "dmarc_status",
        "dkim_status",
        "soa_status",
        "mta_sts_status",
        "tls_rpt_status",
        "bimi_status",
    ] {
        assert_eq!(r[col], "error", "{col}");
    }
    for col in [
        "tls_rpt",
        "tls_rpt_errors",
        "bimi",
        "bimi_dmarc_not_enforcing",
    ] {
        assert_eq!(r[col], Value::Null, "{col}: nothing was measured");
    }
    assert_eq!(r["mx"], Value::Null);
    assert_eq!(m.status_counts["mx_status"]["error"], 1);
    // Every other row is what the clean scan wrote (the time aside).
    for (d, row) in &rows {
        if d != "multispf.example.test" {
            let (mut a, mut b) = (row.clone(), clean_rows[d].clone());
            a.remove("scanned_at");
            b.remove("scanned_at");
            assert_eq!(a, b, "{d}");
            assert_eq!(row["domain_status"], "ok");
        }
    }
    let hosts = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(hosts.len(), clean_hosts.len(), "no address is lost");
    let h = &hosts[&ip.to_string()];
    assert_eq!(h["host_status"], "error");
    assert_eq!(
        h["host_error"],
        format!("panicked: injected fault for {ip:?}")
    );
    assert_eq!(
        h["ptr_status"],
        Value::Null,
        "not checked: null, not a status"
    );
    assert_eq!(h["ptr"], Value::Null);
}
