//! The policy columns (DMARC discovery and report authorisation, DKIM, MTA-STS, TLS-RPT, BIMI, SOA,
//! MX problems, DNSSEC AD) from whole scans against the real DNS fixtures. Every expected value is
//! worked out by hand from the records tests/fixtures/up.sh publishes in example.test.
//!
//! Public Suffix List: with the list built into mxray, `test` is not listed, so the implicit `*`
//! rule makes `example.test` the Organizational Domain of every fixture name. Most tests pass the
//! two-rule list "test, example.test" instead (as `--psl FILE` would), so that each
//! `<name>.example.test` is an Organizational Domain of its own, as registered domains are.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use mxray::checks::dmarc::{DiscoveryMode, SuffixList, organizational_domain};
use mxray::dns::EngineOptions;
use mxray::https::FetchOptions;
use mxray::output::WriterOptions;
use mxray::pipeline::{PolicyOptions, RunManifest, ScanOptions, Targets, scan};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The names every test scans.
const DOMAINS: &[&str] = &[
    "sub.orgdmarc.example.test",
    "orgdmarc.example.test",
    "extrua.example.test",
    "dkim.example.test",
    "dkimrevoked.example.test",
    "ok.example.test",
    "sts.example.test",
    "stsbad.example.test",
    "bimi.example.test",
    "bimiok.example.test",
    "bimibad.example.test",
    "sub.bimiorg.example.test",
    "mxcname.example.test",
    "mxip.example.test",
    "mxnoaddr.example.test",
    "apex.example.test",
    "example.test",
    "broken.example.test",
    "missing.example.test",
    "nullmx.example.test",
];

type Rows = BTreeMap<String, BTreeMap<String, Value>>;

fn test_psl() -> Option<Arc<SuffixList>> {
    Some(Arc::new(SuffixList::parse("test\nexample.test\n").unwrap()))
}

async fn run(
    resolver: std::net::SocketAddr,
    policies: PolicyOptions,
    dnssec_ok: bool,
) -> (Rows, RunManifest) {
    run_on(DOMAINS, resolver, policies, dnssec_ok).await
}

async fn run_on(
    domains: &[&str],
    resolver: std::net::SocketAddr,
    policies: PolicyOptions,
    dnssec_ok: bool,
) -> (Rows, RunManifest) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let mut w = std::fs::File::create(&input).unwrap();
    for d in domains {
        writeln!(w, "{d}").unwrap();
    }
    drop(w);
    let out = dir.path().join("out");
    let opts = ScanOptions {
        targets: Targets::Domains(input.to_str().unwrap().to_string()),
        out: out.clone(),
        engine: EngineOptions {
            servers: vec![resolver],
            timeout: Duration::from_secs(2),
            retries: 2,
            dnssec_ok,
            ..EngineOptions::default()
        },
        writer: WriterOptions {
            flush_interval: Duration::from_millis(500),
            ..WriterOptions::default()
        },
        policies,
        ..ScanOptions::default()
    };
    let m = scan(opts, CancellationToken::new()).await.unwrap();
    assert_eq!(m.counts.domains_scanned, domains.len() as u64);
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    (rows, m)
}

fn codes(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().split(':').next().unwrap().to_string())
        .collect()
}

/// A DMARC tag is reported only from the record that is used (RFC 7489 6.6.3): an invalid
/// record's `p`, `sp`, `pct` and `rua` are null, and so are those of several records; what a
/// receiver applies is `dmarc_effective_p`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_tags_only_from_the_record_used() {
    let Some(f) = common::fixtures("dmarc_record_used") else {
        return;
    };
    let opts = PolicyOptions {
        psl: test_psl(),
        ..PolicyOptions::default()
    };
    let domains = [
        "badsp.example.test",
        "badmarc.example.test",
        "twodmarc.example.test",
        "sub.orgdmarc.example.test",
        "ok.example.test",
        "nodata.example.test",
    ];
    let (rows, _) = run_on(&domains, f.resolver, opts, false).await;
    let r = |d: &str| &rows[d];
    let tags = [
        "dmarc_p",
        "dmarc_sp",
        "dmarc_pct",
        "dmarc_rua",
        "dmarc_ruf",
        "dmarc_np",
    ];
    // (domain, status, effective policy, tags null)
    let cases = [
        ("badsp.example.test", "invalid", json!("none"), true),
        ("badmarc.example.test", "invalid", json!("none"), true),
        ("twodmarc.example.test", "invalid", Value::Null, true),
        ("sub.orgdmarc.example.test", "valid", json!("reject"), false),
        ("ok.example.test", "valid", json!("reject"), false),
        ("nodata.example.test", "none", Value::Null, true),
    ];
    for (d, status, effective, null) in cases {
        let x = r(d);
        assert_eq!(x["dmarc_status"], status, "{d}");
        assert_eq!(x["dmarc_effective_p"], effective, "{d}");
        if null {
            for t in tags {
                assert_eq!(x[t], Value::Null, "{d} {t}");
            }
            assert_eq!(x["dmarc_rua_authorized"], Value::Null, "{d}");
        }
    }
    assert_eq!(
        r("badsp.example.test")["dmarc_record"],
        "v=DMARC1; p=quarantine; sp=block; pct=50; rua=mailto:d@badsp.example.test",
        "the record is still reported raw"
    );
    assert!(
        codes(&r("badsp.example.test")["dmarc_errors"]).contains(&"invalid-sp".to_string()),
        "{}",
        r("badsp.example.test")["dmarc_errors"]
    );
    assert_eq!(
        codes(&r("twodmarc.example.test")["dmarc_errors"]),
        ["multiple-records"]
    );
    assert_eq!(r("ok.example.test")["dmarc_pct"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_columns_worked_out_by_hand() {
    let Some(f) = common::fixtures("policy_columns") else {
        return;
    };
    let opts = PolicyOptions {
        psl: test_psl(),
        ..PolicyOptions::default()
    };
    let (rows, m) = run(f.resolver, opts, false).await;
    let r = |d: &str| &rows[d];

    // DMARC: sub.orgdmarc has no _dmarc of its own; its Organizational Domain orgdmarc.example.test
    // has one (RFC 7489 6.6.3 step 3). Every tag as published.
    let dmarc_org = "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=r; ruf=mailto:f@orgdmarc.example.test";
    for (d, source) in [
        ("sub.orgdmarc.example.test", "organizational"),
        ("orgdmarc.example.test", "domain"),
    ] {
        let x = r(d);
        assert_eq!(x["dmarc_status"], "valid", "{d}");
        assert_eq!(x["dmarc_source"], source, "{d}");
        assert_eq!(x["dmarc_record"], dmarc_org);
        assert_eq!(
            (&x["dmarc_p"], &x["dmarc_sp"], &x["dmarc_np"]),
            (&json!("quarantine"), &json!("reject"), &json!("reject"))
        );
        assert_eq!(
            (&x["dmarc_adkim"], &x["dmarc_aspf"]),
            (&json!("s"), &json!("r"))
        );
        assert_eq!(x["dmarc_pct"], Value::Null);
        assert_eq!(x["dmarc_rua"], json!([]));
        assert_eq!(x["dmarc_ruf"], json!(["mailto:f@orgdmarc.example.test"]));
        // ruf at the record's own domain: no external destination.
        assert_eq!(x["dmarc_rua_authorized"], json!([]));
        assert_eq!(x["dmarc_rua_unauthorized"], json!([]));
        assert_eq!(x["dmarc_errors"], json!([]));
    }
    // rua to reports-ok (publishes extrua.example.test._report._dmarc.reports-ok.example.test
    // "v=DMARC1"), reports-no (exists, no such record) and its own domain (not external).
    let x = r("extrua.example.test");
    assert_eq!(x["dmarc_status"], "valid");
    assert_eq!(x["dmarc_p"], "reject");
    assert_eq!(
        x["dmarc_rua"],
        json!([
            "mailto:agg@reports-ok.example.test",
            "mailto:agg@reports-no.example.test",
            "mailto:me@extrua.example.test"
        ])
    );
    // ... and a ruf to reports-ruf, which consents too (RFC 7489 7.1 covers both kinds).
    assert_eq!(
        x["dmarc_rua_authorized"],
        json!(["reports-ok.example.test", "reports-ruf.example.test"])
    );
    assert_eq!(
        x["dmarc_rua_unauthorized"],
        json!(["reports-no.example.test"])
    );
    // No record anywhere: none, and no destinations to judge.
    let x = r("dkim.example.test");
    assert_eq!(x["dmarc_status"], "none");
    assert_eq!(x["dmarc_source"], Value::Null);
    assert_eq!(x["dmarc_rua_authorized"], Value::Null);

    // DKIM: five key records under selectors of the common list, found in the plan's order
    // (google, selector1, k1, s1, default). google: RSA 2048 (split over two strings);
    // selector1: RSA 1024 with t=y; k1: empty p= (revoked, default k=rsa, no key so no bits);
    // s1: Ed25519 (256 bits); default: p= is not base64.
    let x = r("dkim.example.test");
    assert_eq!(x["dkim_status"], "valid");
    assert_eq!(
        x["dkim_selectors"],
        json!(["google", "selector1", "k1", "s1", "default"])
    );
    // struct fields: selector, type, bits, testing, revoked, usable, errors
    let keys = x["dkim_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5);
    assert_eq!(
        keys[0],
        json!(["google", "rsa", 2048, false, false, true, []])
    );
    assert_eq!(
        keys[1],
        json!(["selector1", "rsa", 1024, true, false, true, []])
    );
    assert_eq!(keys[2], json!(["k1", "rsa", null, false, true, false, []]));
    assert_eq!(
        keys[3],
        json!(["s1", "ed25519", 256, false, false, true, []])
    );
    assert_eq!(
        keys[4].as_array().unwrap()[..6],
        json!(["default", "rsa", null, false, false, false])
            .as_array()
            .unwrap()[..]
    );
    assert_eq!(codes(&keys[4][6]), ["invalid-base64"]);
    assert_eq!(codes(&x["dkim_errors"]), ["invalid-base64"]);
    assert!(
        x["dkim_errors"][0]
            .as_str()
            .unwrap()
            .starts_with("invalid-base64: default: ")
    );
    // Only a revoked key: a key record exists, none usable.
    let x = r("dkimrevoked.example.test");
    assert_eq!(x["dkim_status"], "invalid");
    assert_eq!(x["dkim_selectors"], json!(["k1"]));
    assert_eq!(
        x["dkim_keys"],
        json!([["k1", "rsa", null, false, true, false, []]])
    );
    // _domainkey.ok.example.test is NXDOMAIN: no selector probed (RFC 8020), found none.
    let x = r("ok.example.test");
    assert_eq!(x["dkim_status"], "none");
    assert_eq!(x["dkim_selectors"], json!([]));
    assert_eq!(x["dkim_keys"], json!([]));
    // Saved probes: the common selectors for each existing domain without a _domainkey subtree
    // (none of them names a provider): all 20
    // but dkim, dkimrevoked, broken (SERVFAIL: unknown, not skipped) and missing (the domain
    // itself is NXDOMAIN, so nothing below it is queried at all); mxip twice: its exchange's
    // address query fails (SERVFAIL), so the last pass probes the domain again.
    assert_eq!(
        m.counts.dkim_probes_saved,
        17 * mxray::checks::dkim::COMMON_SELECTORS.len() as u64
    );

    // MTA-STS and TLS-RPT.
    let x = r("sts.example.test");
    assert_eq!(x["mta_sts_status"], "valid");
    assert_eq!(x["mta_sts"], "v=STSv1; id=20240101T000000;");
    assert_eq!(x["mta_sts_id"], "20240101T000000");
    assert_eq!(x["mta_sts_errors"], json!([]));
    assert_eq!(x["tls_rpt_status"], "valid");
    assert_eq!(x["tls_rpt"], "v=TLSRPTv1; rua=mailto:tls@sts.example.test");
    assert_eq!(x["tls_rpt_errors"], json!([]));
    assert_eq!(x["tls_rpt_rua"], json!(["mailto:tls@sts.example.test"]));
    let x = r("stsbad.example.test");
    assert_eq!(x["mta_sts_status"], "invalid");
    assert_eq!(x["mta_sts"], "v=STSv1;");
    assert_eq!(x["mta_sts_id"], Value::Null);
    assert_eq!(codes(&x["mta_sts_errors"]), ["missing-id"]);
    assert_eq!(x["tls_rpt_status"], "invalid");
    assert_eq!(x["tls_rpt"], "v=TLSRPTv1; rua=ftp://reports.example.test/");
    assert_eq!(codes(&x["tls_rpt_errors"]), ["invalid-uri-scheme"]);
    assert_eq!(x["tls_rpt_rua"], Value::Null, "not used: no destinations");
    let x = r("ok.example.test");
    for c in [
        "mta_sts",
        "mta_sts_id",
        "tls_rpt",
        "bimi",
        "bimi_dmarc_not_enforcing",
    ] {
        assert_eq!(x[c], Value::Null, "{c}");
    }
    for c in ["mta_sts_status", "tls_rpt_status", "bimi_status"] {
        assert_eq!(x[c], "none", "{c}");
    }

    // BIMI: published with p=none (not enforcing), with p=reject (enforcing), and with an http:
    // logo (invalid, still judged against DMARC). No a= anywhere: noted as no-evidence.
    let logo = "v=BIMI1; l=https://bimi.example.test/logo.svg;";
    let x = r("bimi.example.test");
    assert_eq!(
        (&x["bimi_status"], &x["bimi"]),
        (&json!("valid"), &json!(logo))
    );
    assert_eq!(x["bimi_dmarc_not_enforcing"], true);
    assert_eq!(codes(&x["bimi_errors"]), ["no-evidence"]);
    let x = r("bimiok.example.test");
    assert_eq!(
        (&x["bimi_status"], &x["bimi"]),
        (&json!("valid"), &json!(logo))
    );
    assert_eq!(x["bimi_dmarc_not_enforcing"], false);
    let x = r("bimibad.example.test");
    assert_eq!(x["bimi_status"], "invalid");
    assert_eq!(x["bimi_dmarc_not_enforcing"], Value::Null);
    assert_eq!(codes(&x["bimi_errors"]), ["invalid-l", "no-evidence"]);
    // Under bimiorg's record (p=none; sp=reject) the subdomain's policy is sp=reject: enforcing.
    let x = r("sub.bimiorg.example.test");
    assert_eq!(
        (&x["dmarc_source"], &x["dmarc_sp"]),
        (&json!("organizational"), &json!("reject"))
    );
    assert_eq!(
        (&x["bimi_status"], &x["bimi_dmarc_not_enforcing"]),
        (&json!("valid"), &json!(false))
    );

    // SOA: zone apexes give the contact; names inside a zone are nodata.
    let x = r("apex.example.test");
    assert_eq!(
        (&x["soa_status"], &x["soa_rname"]),
        (&json!("ok"), &json!("john.doe@apex.example.test"))
    );
    let x = r("example.test");
    assert_eq!(
        (&x["soa_status"], &x["soa_rname"]),
        (&json!("ok"), &json!("hostmaster@example.test"))
    );
    let x = r("ok.example.test");
    assert_eq!(
        (&x["soa_status"], &x["soa_rname"]),
        (&json!("nodata"), &Value::Null)
    );

    // MX problems.
    let x = r("mxcname.example.test");
    assert_eq!(codes(&x["mx_errors"]), ["mx-cname"]);
    assert_eq!(x["mx_ips"], json!(["127.0.0.10"]));
    let x = r("mxip.example.test");
    // 127.0.0.5 is no name anyone serves: its A, AAAA and TLSA lookups fail (REFUSED ->
    // SERVFAIL).
    assert_eq!(
        codes(&x["mx_errors"]),
        [
            "mx-ip-literal",
            "tlsa-lookup",
            "mx-address-lookup",
            "mx-address-lookup"
        ]
    );
    assert_eq!(x["mx_ips_status"], "servfail");
    assert_eq!(x["dane_status"], "servfail");
    assert_eq!(x["dane_all_mx"], Value::Null);
    let x = r("mxnoaddr.example.test");
    assert_eq!(codes(&x["mx_errors"]), ["mx-no-address"]);
    assert_eq!(
        (&x["mx_ips"], &x["mx_ips_status"]),
        (&json!([]), &json!("ok"))
    );
    assert_eq!(r("ok.example.test")["mx_errors"], json!([]));
    assert_eq!(r("nullmx.example.test")["mx_errors"], json!([]));

    // A DNS failure is never "absent": broken.example.test is delegated to a lame server.
    let x = r("broken.example.test");
    for c in [
        "dmarc_status",
        "dkim_status",
        "mta_sts_status",
        "tls_rpt_status",
        "bimi_status",
    ] {
        assert_eq!(x[c], "temperror", "{c}");
    }
    for c in [
        "dmarc_errors",
        "dkim_errors",
        "mta_sts_errors",
        "tls_rpt_errors",
        "bimi_errors",
    ] {
        assert_eq!(codes(&x[c]), ["dns-temperror"], "{c}");
    }
    assert_eq!(x["soa_status"], "servfail");
    for c in [
        "dkim_selectors",
        "dkim_keys",
        "mta_sts",
        "tls_rpt",
        "bimi",
        "soa_rname",
    ] {
        assert_eq!(x[c], Value::Null, "{c}");
    }
    // A domain that does not exist: nothing below it is asked (RFC 8020).
    let x = r("missing.example.test");
    assert_eq!(x["soa_status"], "nxdomain");
    assert_eq!(
        (&x["dkim_status"], &x["dkim_selectors"]),
        (&json!("none"), &json!([]))
    );
    assert_eq!(x["dnssec_ad"], Value::Null, "not asked without --dnssec");

    assert_eq!(m.status_counts["dkim_status"]["valid"], 1);
    assert_eq!(m.status_counts["soa_status"]["ok"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_list_tree_walk_no_dkim_and_dnssec() {
    let Some(f) = common::fixtures("policy_options") else {
        return;
    };
    // The built-in list: example.test is the Organizational Domain of every fixture name, and
    // _dmarc.example.test does not exist.
    assert_eq!(
        organizational_domain("sub.orgdmarc.example.test").as_deref(),
        Some("example.test")
    );
    let opts = PolicyOptions {
        dmarc_discovery: DiscoveryMode::Rfc7489,
        dkim: false,
        ..PolicyOptions::default()
    };
    let (rows, m) = run(f.resolver, opts, true).await;
    let x = &rows["sub.orgdmarc.example.test"];
    assert_eq!(
        (&x["dmarc_status"], &x["dmarc_source"]),
        (&json!("none"), &Value::Null)
    );
    // All destinations share the Organizational Domain example.test: none is external.
    let x = &rows["extrua.example.test"];
    assert_eq!(x["dmarc_rua_authorized"], json!([]));
    assert_eq!(x["dmarc_rua_unauthorized"], json!([]));
    // --no-dkim: not measured, so null, and no probe is counted as saved.
    let x = &rows["dkim.example.test"];
    assert_eq!(
        (&x["dkim_status"], &x["dkim_selectors"], &x["dkim_keys"]),
        (&json!("skipped"), &Value::Null, &Value::Null)
    );
    assert_eq!(m.counts.dkim_probes_saved, 0);
    // DO set: the fixture resolver does not validate, so AD is clear; a failed MX query is null.
    assert_eq!(rows["ok.example.test"]["dnssec_ad"], false);
    assert_eq!(rows["missing.example.test"]["dnssec_ad"], false);
    assert_eq!(rows["broken.example.test"]["dnssec_ad"], Value::Null);

    // RFC 9989 Tree Walk (the default): sub.orgdmarc.example.test, orgdmarc.example.test (found,
    // no psd: the walk goes on), example.test and test (none): the Organizational Domain is
    // orgdmarc.example.test, whose sp applies. RFC 7489 said none: the methods differ.
    let opts = PolicyOptions {
        dkim: false,
        ..PolicyOptions::default()
    };
    let (rows, _) = run(f.resolver, opts, false).await;
    let x = &rows["sub.orgdmarc.example.test"];
    assert_eq!(
        (
            &x["dmarc_status"],
            &x["dmarc_source"],
            &x["dmarc_policy_domain"]
        ),
        (
            &json!("valid"),
            &json!("organizational"),
            &json!("orgdmarc.example.test")
        )
    );
    assert_eq!(
        (
            &x["dmarc_p"],
            &x["dmarc_effective_p"],
            &x["dmarc_methods_differ"]
        ),
        (&json!("quarantine"), &json!("reject"), &json!(true))
    );
    // Without any record the walk reaches _dmarc.test, NXDOMAIN in the fixtures' empty TLD zone.
    let x = &rows["dkim.example.test"];
    assert_eq!(
        (&x["dmarc_status"], &x["dmarc_methods_differ"]),
        (&json!("none"), &json!(false))
    );
}

/// The RFC 9989 cases of the fixtures' example.test (tests/fixtures/up.sh), each worked out by
/// hand from RFC 9989 4.10 (the walk), 4.10.1 (which record applies) and 4.10.2 (the
/// Organizational Domain); RFC 7489 with the built-in PSL finds none of them (example.test, the
/// Organizational Domain of every name, has no record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_rfc9989_tree_walk_worked_out_by_hand() {
    let Some(f) = common::fixtures("dmarc_rfc9989") else {
        return;
    };
    let domains = [
        "mail.org.psdy.example.test",
        "lone.psdy.example.test",
        "gone.psdy.example.test",
        "a.dept.psdn.example.test",
        "a.mid.walk.example.test",
        "k.j.i.h.g.f.e.d.deep.example.test",
        "tags.example.test",
        "ok.example.test",
    ];
    let opts = |mode| PolicyOptions {
        dmarc_discovery: mode,
        dkim: false,
        ..PolicyOptions::default()
    };
    let (rows, m) = run_on(&domains, f.resolver, opts(DiscoveryMode::Rfc9989), false).await;
    assert_eq!(m.options.dmarc_discovery, "rfc9989");
    // (domain, "status source policy_domain effective_p p psd t", methods differ)
    let cases = [
        // psd=y at psdy: the Organizational Domain is org.psdy, one label below, whose record
        // applies: p (sp absent) to an existing subdomain.
        (
            "mail.org.psdy.example.test",
            "valid organizational org.psdy.example.test none none - true",
            true,
        ),
        // The Organizational Domain lone.psdy (one below the PSD) publishes nothing: the PSD's
        // record applies, its sp to a domain that exists...
        (
            "lone.psdy.example.test",
            "valid public-suffix psdy.example.test quarantine reject y -",
            true,
        ),
        // ...and its np to one that does not (MX nxdomain; _dmarc.gone.psdy is never asked).
        (
            "gone.psdy.example.test",
            "valid public-suffix psdy.example.test reject reject y -",
            true,
        ),
        // psd=n stops the walk at dept.psdn: psdn's record is never used.
        (
            "a.dept.psdn.example.test",
            "valid organizational dept.psdn.example.test quarantine quarantine n -",
            true,
        ),
        // No psd: the record at the fewest labels (walk), not the nearest (mid.walk).
        (
            "a.mid.walk.example.test",
            "valid organizational walk.example.test none reject - false",
            true,
        ),
        // 11 labels: the name, then its last 7; the psd=n record 8 labels up is skipped.
        (
            "k.j.i.h.g.f.e.d.deep.example.test",
            "valid organizational deep.example.test quarantine none - -",
            true,
        ),
        (
            "tags.example.test",
            "valid domain tags.example.test quarantine quarantine - -",
            false,
        ),
        (
            "ok.example.test",
            "valid domain ok.example.test reject reject - -",
            false,
        ),
    ];
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    for (d, want, differ) in cases {
        let x = &rows[d];
        let got = [
            "dmarc_status",
            "dmarc_source",
            "dmarc_policy_domain",
            "dmarc_effective_p",
            "dmarc_p",
            "dmarc_psd",
            "dmarc_t",
        ]
        .map(|c| s(&x[c]))
        .join(" ");
        assert_eq!(got, want, "{d}");
        assert_eq!(x["dmarc_methods_differ"], differ, "{d}");
    }
    assert_eq!(rows["gone.psdy.example.test"]["mx_status"], "nxdomain");
    assert_eq!(rows["gone.psdy.example.test"]["dmarc_np"], "reject");
    // p not second, ri (removed) and foo (unknown): warnings; ri's value is not a column.
    assert_eq!(
        codes(&rows["tags.example.test"]["dmarc_errors"]),
        ["removed-tag", "unknown-tag"]
    );
    // pct: warned of as removed, its value still in its column for RFC 7489 readers.
    let x = &rows["ok.example.test"];
    assert_eq!(codes(&x["dmarc_errors"]), ["removed-tag"]);
    assert_eq!(x["dmarc_pct"], 50);

    // RFC 7489: the PSL's Organizational Domain example.test has no record; a record at the
    // domain itself is found alike.
    let (rows, m) = run_on(&domains, f.resolver, opts(DiscoveryMode::Rfc7489), false).await;
    assert_eq!(m.options.dmarc_discovery, "rfc7489");
    for (d, _, differ) in cases {
        let x = &rows[d];
        let want = if differ { "none" } else { "valid" };
        assert_eq!(x["dmarc_status"], want, "{d}");
        assert_eq!(x["dmarc_methods_differ"], differ, "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_policies_fetched_over_https() {
    let Some(f) = common::fixtures("mta_sts_fetch") else {
        return;
    };
    let ca = std::env::var("MXRAY_TEST_STS_CA").expect("the fixtures' env names the test CA");
    let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let domains = [
        "sts.example.test",
        "stsredir.example.test",
        "stshtml.example.test",
        "ststls.example.test",
        "stsnohost.example.test",
        "stsdown.example.test",
        "stsbad.example.test",
        "ok.example.test",
    ];
    let fetch = |extra_roots| PolicyOptions {
        dkim: false,
        mta_sts_fetch: Some(FetchOptions {
            timeout: Duration::from_secs(5),
            extra_roots,
            ..FetchOptions::default()
        }),
        ..PolicyOptions::default()
    };
    let (rows, _) = run_on(&domains, f.resolver, fetch(ca), false).await;
    let policy_cols = |d: &str| {
        let x = &rows[d];
        (
            x["mta_sts_policy_status"].clone(),
            codes(&x["mta_sts_policy_errors"]),
        )
    };
    // sts: policy "version: STSv1 / mode: enforce / mx: mx1.ok.example.test / max_age: 86400";
    // the domain's MX hosts are mx1.ok and mx2.ok, so mx2.ok is not covered (RFC 8461 4.1).
    let x = &rows["sts.example.test"];
    assert_eq!(policy_cols("sts.example.test"), (json!("valid"), vec![]));
    assert_eq!(x["mta_sts_mode"], "enforce");
    assert_eq!(x["mta_sts_max_age"], 86400);
    assert_eq!(x["mta_sts_mx"], json!(["mx1.ok.example.test"]));
    assert_eq!(x["mta_sts_mx_uncovered"], json!(["mx2.ok.example.test"]));
    // A 301 is not followed; text/html is not a policy; a certificate for other names; no host.
    assert_eq!(
        policy_cols("stsredir.example.test"),
        (json!("http-error"), vec!["http-error".to_string()])
    );
    assert!(
        rows["stsredir.example.test"]["mta_sts_policy_errors"][0]
            .as_str()
            .unwrap()
            .contains("status 301")
    );
    assert!(
        rows["stshtml.example.test"]["mta_sts_policy_errors"][0]
            .as_str()
            .unwrap()
            .contains("not text/plain")
    );
    assert_eq!(policy_cols("ststls.example.test").0, "tls-error");
    assert_eq!(policy_cols("stsnohost.example.test").0, "dns-error");
    assert_eq!(policy_cols("stsdown.example.test").0, "connect-error");
    for d in ["stsredir.example.test", "ststls.example.test"] {
        for c in [
            "mta_sts_mode",
            "mta_sts_max_age",
            "mta_sts_mx",
            "mta_sts_mx_uncovered",
        ] {
            assert_eq!(rows[d][c], Value::Null, "{d} {c}");
        }
    }
    // No fetch without a valid record.
    for d in ["stsbad.example.test", "ok.example.test"] {
        assert_eq!(policy_cols(d), (Value::Null, vec![]), "{d}");
    }

    // Without the test CA the server's certificate chains to no trusted root.
    let (rows, _) = run_on(&domains[..1], f.resolver, fetch(Vec::new()), false).await;
    assert_eq!(
        rows["sts.example.test"]["mta_sts_policy_status"],
        "tls-error"
    );
    // Without --mta-sts-fetch nothing is fetched.
    let (rows, _) = run_on(&domains[..1], f.resolver, PolicyOptions::default(), false).await;
    assert_eq!(
        rows["sts.example.test"]["mta_sts_policy_status"],
        Value::Null
    );
    assert_eq!(rows["sts.example.test"]["mta_sts_status"], "valid");
}

/// A policy host that accepts the connection and never answers: the fetch ends at its timeout. The
/// stalling listener is this test's own, on the policy host's address (127.0.0.40, loopback) and a
/// port of its choosing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_fetch_times_out_on_a_silent_server() {
    let Some(f) = common::fixtures("mta_sts_timeout") else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.40:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let opts = PolicyOptions {
        dkim: false,
        mta_sts_fetch: Some(FetchOptions {
            timeout: Duration::from_millis(500),
            port,
            ..FetchOptions::default()
        }),
        ..PolicyOptions::default()
    };
    let t = std::time::Instant::now();
    let (rows, _) = run_on(&["sts.example.test"], f.resolver, opts, false).await;
    let x = &rows["sts.example.test"];
    assert_eq!(x["mta_sts_policy_status"], "timeout");
    assert_eq!(codes(&x["mta_sts_policy_errors"]), ["timeout"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    silent.abort();
}
