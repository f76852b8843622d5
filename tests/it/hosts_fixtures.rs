//! Host checks against the real fixtures: PTR and forward confirmation from Knot's reverse zone,
//! DNSBL answers from rbldnsd (listed, not listed, an error code, an undocumented code), range
//! targets with exclusions, and shards. Every expected value comes from the records in
//! tests/fixtures/up.sh.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use mxray::checks::dnsbl;
use mxray::dns::EngineOptions;
use mxray::pipeline::host::HostOptions;
use mxray::pipeline::{ScanOptions, Targets, scan};
use mxray::targets::exclude::ExcludeList;
use mxray::targets::shard::Shard;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn host_options(allow_loopback: bool) -> HostOptions {
    let path =
        std::env::var("MXRAY_TEST_DNSBL").expect("MXRAY_TEST_DNSBL (tests/fixtures/up.sh env)");
    HostOptions {
        dnsbl: dnsbl::load_zones(path.as_ref()).unwrap(),
        asn: None,
        exclude: Arc::new(ExcludeList::defaults(allow_loopback)),
        asn_dns: None,
        rpki: None,
    }
}

fn options(out: &std::path::Path, f: &common::Fixtures, hosts: HostOptions) -> ScanOptions {
    ScanOptions {
        hosts,
        ..common::scan_options(out, f.resolver)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_targets_reverse_dns_and_dnsbl() {
    let Some(f) = common::fixtures("range_targets") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut o = options(&out, &f, host_options(true));
    o.targets = Targets::Ips(
        "127.0.0.10-127.0.0.12, 127.0.0.14, 127.0.0.20, 127.0.0.66, 10.1.2.3, 192.168.0.0/30, not-an-ip"
            .into(),
    );
    let m = scan(o, CancellationToken::new()).await.unwrap();
    assert_eq!(m.counts.excluded, 5, "RFC 1918 addresses are never scanned");
    assert_eq!(m.counts.rejects, 1);
    let rows = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        [
            "127.0.0.10",
            "127.0.0.11",
            "127.0.0.12",
            "127.0.0.14",
            "127.0.0.20",
            "127.0.0.66"
        ]
    );
    let r = |ip: &str, col: &str| rows[ip][col].clone();

    // PTR back to an MX name whose A points here: forward-confirmed; listed in bl.test with its
    // TXT reason.
    assert_eq!(r("127.0.0.10", "ptr_status"), "ok");
    assert_eq!(r("127.0.0.10", "ptr"), json!(["mx1.ok.example.test"]));
    assert_eq!(r("127.0.0.10", "fcrdns"), true);
    assert_eq!(r("127.0.0.10", "dnsbl_listed"), json!(["bl.test"]));
    assert_eq!(
        r("127.0.0.10", "dnsbl_codes"),
        json!(["bl.test: 127.0.0.2 (test listing)"])
    );
    assert_eq!(
        r("127.0.0.10", "dnsbl_reasons"),
        json!(["bl.test: Listed in bl.test: 127.0.0.10 (test entry)"])
    );
    assert_eq!(r("127.0.0.10", "dnsbl_errors"), json!([]));
    assert_eq!(r("127.0.0.11", "dnsbl_listed"), json!(["bl2.test"]));

    // PTR to a name whose A is another address: not confirmed. bl2.test answers a code it does
    // not define: an error, never a listing.
    assert_eq!(r("127.0.0.12", "ptr"), json!(["mismatch.hosts.test"]));
    assert_eq!(r("127.0.0.12", "fcrdns"), false);
    assert_eq!(r("127.0.0.12", "dnsbl_listed"), json!([]));
    assert_eq!(
        r("127.0.0.12", "dnsbl_errors"),
        json!(["bl2.test: 127.0.0.99: code not documented for bl2.test"])
    );

    // Two PTRs, one of them dangling: the other confirms.
    assert_eq!(
        r("127.0.0.14", "ptr"),
        json!(["back.hosts.test", "gone.hosts.test"])
    );
    assert_eq!(r("127.0.0.14", "fcrdns"), true);

    // No PTR at all: nxdomain, not confirmed, nothing listed.
    assert_eq!(r("127.0.0.20", "ptr_status"), "nxdomain");
    assert_eq!(r("127.0.0.20", "ptr"), json!([]));
    assert_eq!(r("127.0.0.20", "fcrdns"), false);
    assert_eq!(r("127.0.0.20", "dnsbl_listed"), json!([]));
    assert_eq!(r("127.0.0.20", "dnsbl_errors"), json!([]));

    // The zone's "open resolver" code is an error of the query, not a listing.
    assert_eq!(r("127.0.0.66", "dnsbl_listed"), json!([]));
    assert_eq!(
        r("127.0.0.66", "dnsbl_errors"),
        json!(["bl.test: 127.255.255.254: query via public/open resolver"])
    );
    for row in rows.values() {
        assert_eq!(row["host_status"], "ok");
    }
    let rejects = std::fs::read_to_string(out.join("rejects.csv")).unwrap();
    assert!(
        rejects.lines().nth(1).unwrap().starts_with("7,not-an-ip,"),
        "{rejects}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_addresses_get_host_rows_and_exclusions_skip_them() {
    let Some(f) = common::fixtures("mx_hosts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "ok.example.test\n").unwrap();

    let out = dir.path().join("allowed");
    let mut o = options(&out, &f, host_options(true));
    o.targets = Targets::Domains(input.to_str().unwrap().into());
    scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(rows["127.0.0.10"]["fcrdns"], true);
    assert_eq!(rows["127.0.0.11"]["fcrdns"], true);
    assert_eq!(rows["127.0.0.11"]["dnsbl_listed"], json!(["bl2.test"]));
    // Unbound answers ::1 from its built-in localhost data, both ways.
    assert_eq!(rows["::1"]["ptr"], json!(["localhost"]));
    assert_eq!(rows["::1"]["fcrdns"], true);

    // Without --allow-loopback the default never-scan list keeps the rows, marked skipped.
    let out = dir.path().join("excluded");
    let mut o = options(&out, &f, host_options(false));
    o.targets = Targets::Domains(input.to_str().unwrap().into());
    scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(rows.len(), 3);
    for row in rows.values() {
        assert_eq!(row["host_status"], "skipped");
        assert!(
            row["skip_reason"]
                .as_str()
                .unwrap()
                .starts_with("excluded: "),
            "{row:?}"
        );
        assert_eq!(row["ptr_status"], Value::Null);
        assert_eq!(
            row["dnsbl_listed"],
            Value::Null,
            "not checked is not 'not listed'"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_of_a_slash_16_are_the_slash_16() {
    let Some(f) = common::fixtures("shards") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut total = 0;
    for k in 0..4 {
        let out = dir.path().join(format!("shard{k}"));
        let mut hosts = host_options(true);
        hosts.dnsbl.clear();
        let mut o = options(&out, &f, hosts);
        o.targets = Targets::Ips("127.5.0.0/16".into());
        o.seed = 42;
        o.shard = Shard::new(k, 4).unwrap();
        let m = scan(o, CancellationToken::new()).await.unwrap();
        assert_eq!(m.shard, format!("{k}/4"));
        let rows = common::read_table(&out, "hosts");
        total += rows.len();
        for r in &rows {
            assert_eq!(r["ptr"], json!(["scan-target.hosts.test"]));
            // The wildcard PTR's name resolves to 127.5.6.7 only.
            assert_eq!(r["fcrdns"], r["ip"] == "127.5.6.7", "{r:?}");
            seen.insert(r["ip"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(total, 65536, "no address scanned twice");
    assert_eq!(seen.len(), 65536, "every address of the /16 scanned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_shards_split_the_world() {
    let Some(f) = common::fixtures("domain_shards") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The first 20k lines of the world are enough to show the split.
    let input = dir.path().join("part.txt");
    let text = std::fs::read_to_string(f.world.join("domains.txt")).unwrap();
    let part: Vec<&str> = text.lines().take(20_000).collect();
    std::fs::write(&input, part.join("\n")).unwrap();
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut total = 0;
    let mut expected = 0;
    for k in 0..3 {
        let out = dir.path().join(format!("d{k}"));
        let mut o = options(&out, &f, host_options(true));
        o.hosts.dnsbl.clear();
        o.targets = Targets::Domains(input.to_str().unwrap().into());
        o.shard = Shard::new(k, 3).unwrap();
        let m = scan(o, CancellationToken::new()).await.unwrap();
        expected = m.counts.domains_scanned + m.counts.other_shards;
        let rows = common::read_table(&out, "domains");
        total += rows.len() as u64;
        all.extend(
            rows.iter()
                .map(|r| r["domain"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(total, expected, "disjoint");
    assert_eq!(all.len() as u64, expected, "complete");
}

#[tokio::test]
async fn an_ipv6_range_over_the_cap_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let o = ScanOptions {
        out: dir.path().join("out"),
        targets: Targets::Ips("2001:db8::/64".into()),
        engine: EngineOptions {
            servers: vec!["127.0.0.1:9".parse().unwrap()],
            ..EngineOptions::default()
        },
        ..ScanOptions::default()
    };
    let m = scan(o, CancellationToken::new()).await;
    // The only spec is refused: it lands in rejects, and with nothing left the scan says so.
    let rejects = std::fs::read_to_string(dir.path().join("out/rejects.csv")).unwrap();
    assert!(rejects.contains("over the cap of 65536"), "{rejects}");
    assert!(m.is_err() || m.unwrap().counts.hosts == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_are_checked_against_domain_blocklists() {
    let Some(f) = common::fixtures("rhsbl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "multispf.example.test\nbadmarc.example.test\nok.example.test\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut o = options(&out, &f, host_options(true));
    o.targets = Targets::Domains(input.to_str().unwrap().into());
    scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");
    let r = |d: &str, c: &str| rows[d][c].clone();
    assert_eq!(
        r("multispf.example.test", "dnsbl_domain_listed"),
        json!(["dbl.test"])
    );
    assert_eq!(
        r("multispf.example.test", "dnsbl_domain_reasons"),
        json!(["dbl.test: Listed in dbl.test: multispf.example.test"])
    );
    // The zone's "IP queries prohibited" code is an error of the query, not a listing.
    assert_eq!(r("badmarc.example.test", "dnsbl_domain_listed"), json!([]));
    assert_eq!(
        r("badmarc.example.test", "dnsbl_domain_errors"),
        json!(["dbl.test: 127.0.1.255: IP queries prohibited"])
    );
    assert_eq!(r("ok.example.test", "dnsbl_domain_listed"), json!([]));
    assert_eq!(r("ok.example.test", "dnsbl_domain_errors"), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_as_over_dns_cached_per_prefix() {
    let Some(f) = common::fixtures("asn_dns") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut hosts = host_options(true);
    hosts.dnsbl.clear();
    hosts.asn_dns = Some(mxray::pipeline::host::AsnDnsZones {
        origin_v4: "origin.hosts.test".into(),
        origin_v6: "origin6.hosts.test".into(),
        as_names: Some("asnames.hosts.test".into()),
    });
    let mut o = options(&out, &f, hosts);
    o.targets = Targets::Ips("127.0.0.10-127.0.0.12,127.5.1.0/24".into());
    // One at a time, so the first answer of a prefix is cached before the next address asks.
    o.host_concurrency = 1;
    let m = scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "hosts"), "ip");
    assert_eq!(rows.len(), 259);
    let x = &rows["127.0.0.11"];
    assert_eq!(x["asn"], 64500);
    assert_eq!(x["asn_range"], "127.0.0.0/24");
    assert_eq!(x["asn_country"], "ZZ");
    assert_eq!(x["asn_name"], "LOOPBACK-TEST mxray fixture, ZZ");
    let y = &rows["127.5.1.77"];
    assert_eq!(y["asn"], 64501);
    assert_eq!(y["asn_range"], "127.5.0.0/16");
    assert_eq!(y["asn_name"], Value::Null, "no name record for AS64501");
    // 259 addresses: one PTR each, 4 distinct forward names (mx1.ok, mx2.ok, mismatch,
    // scan-target), and for the two prefixes one origin and one name query each: never an origin
    // query per address.
    assert!(
        m.dns.queries <= 259 + 4 + 4,
        "{} queries in all",
        m.dns.queries
    );
}

/// RPKI origin validation of the fixtures' routes (RFC 6811): the origin AS over DNS from the
/// fixture's Team Cymru style zones (127.0.0.0/24 AS64500, 127.5.0.0/16 AS64501), and from an
/// `--asn-db` table for 127.9.0.0/24 (AS64510, which the table answers first), judged against an
/// rpki-client CSV export written here. 127.6.0.1 has no origin record: no route, no state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpki_status_of_routes_over_dns_and_from_the_table() {
    let Some(f) = common::fixtures("rpki_status") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let vrps = dir.path().join("vrps.csv");
    std::fs::write(
        &vrps,
        "ASN,IP Prefix,Max Length,Trust Anchor,Expires\n\
         AS64500,127.0.0.0/24,24,test,1765000000\n\
         AS64999,127.5.0.0/16,24,test,1765000000\n\
         AS0,127.5.0.0/16,16,test,1765000000\n",
    )
    .unwrap();
    let (db, _) = mxray::checks::asn::AsnDb::from_reader(
        "127.9.0.0\t127.9.0.255\t64510\tZZ\tTABLE-ONLY\n".as_bytes(),
    )
    .unwrap();
    let mut hosts = host_options(true);
    hosts.dnsbl.clear();
    hosts.asn = Some(Arc::new(db));
    hosts.asn_dns = Some(mxray::pipeline::host::AsnDnsZones {
        origin_v4: "origin.hosts.test".into(),
        origin_v6: "origin6.hosts.test".into(),
        as_names: None,
    });
    hosts.rpki = Some(Arc::new(
        mxray::rpki::VrpFile::read(&vrps).expect("the test's VRP file"),
    ));
    let mut o = options(&out, &f, hosts);
    o.targets = Targets::Ips("127.0.0.10,127.0.0.11,127.5.1.2,127.9.0.1,127.6.0.1".into());
    let m = scan(o, CancellationToken::new()).await.unwrap();
    let rows = common::by_key(common::read_table(&out, "hosts"), "ip");
    let got = |ip: &str| (rows[ip]["asn"].clone(), rows[ip]["rpki_status"].clone());
    // The /24 over DNS, its VRP's AS and length.
    assert_eq!(got("127.0.0.10"), (json!(64500), json!("valid")));
    assert_eq!(got("127.0.0.11"), (json!(64500), json!("valid")));
    // Covered by a VRP of another AS and by an AS 0 VRP: neither matches.
    assert_eq!(got("127.5.1.2"), (json!(64501), json!("invalid")));
    // The table's range as the route: no VRP covers 127.9.0.0/24.
    assert_eq!(got("127.9.0.1"), (json!(64510), json!("not-found")));
    assert_eq!(rows["127.9.0.1"]["asn_range"], "127.9.0.0-127.9.0.255");
    // No origin record: no AS, no route, no state.
    assert_eq!(got("127.6.0.1"), (Value::Null, Value::Null));
    let counts = &m.status_counts["rpki_status"];
    assert_eq!(
        (
            counts.get("valid"),
            counts.get("invalid"),
            counts.get("not-found")
        ),
        (Some(&2), Some(&1), Some(&1)),
        "{counts:?}"
    );
    let rpki = m.rpki.as_ref().expect("run.json's rpki");
    assert_eq!(rpki.vrps, 3);
    assert_eq!(rpki.format, "csv");
    let bytes = std::fs::read(&vrps).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(rpki.sha256, hex);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["rpki"]["vrps"], 3);
    assert_eq!(manifest["rpki"]["sha256"], hex.as_str());
}
