//! Issue 34 against the real fixtures (tests/fixtures/up.sh, example.test and the nx. zone):
//! dangling names (organizational domains that are NXDOMAIN, never a failure taken for one),
//! `mx_ipv6`, and SMTP over IPv6 to an exchange that has only an AAAA record (Postfix on [::1]).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use mxray::pipeline::host::HostOptions;
use mxray::pipeline::smtp::{SmtpOptions, SmtpPort};
use mxray::pipeline::{ScanOptions, Targets, scan};
use mxray::smtp::SessionOptions;
use mxray::smtp::conn::Deadlines;
use mxray::targets::exclude::ExcludeList;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangling_names_ipv6_exchanges_and_smtp_over_ipv6() {
    let Some(f) = common::smtp_fixtures("dangling_names_ipv6_exchanges_and_smtp_over_ipv6") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "dangling.example.test\nv6.example.test\nv6only.example.test\n\
         ok.example.test\nnullmx.example.test\nmissing.example.test\n",
    )
    .unwrap();
    let o = ScanOptions {
        targets: Targets::Domains(input.to_str().unwrap().to_string()),
        hosts: HostOptions {
            exclude: Arc::new(ExcludeList::defaults(true)),
            ..HostOptions::default()
        },
        smtp: Some(SmtpOptions {
            ports: vec![SmtpPort::plain(f.port)],
            session: SessionOptions {
                deadlines: Deadlines {
                    connect: Duration::from_secs(3),
                    reply: Duration::from_secs(5),
                    session: Duration::from_secs(20),
                },
                ..SessionOptions::default()
            },
            ..SmtpOptions::default()
        }),
        ..common::scan_options(&out, f.dns.resolver)
    };
    let m = scan(o, CancellationToken::new()).await.unwrap();
    assert_eq!(m.counts.domains_scanned, 6);
    let rows = common::by_key(common::read_table(&out, "domains"), "domain");

    // Its SPF include, its exchange and its report host are in organizational domains the nx.
    // zone does not have; web.alive.nx (an `a` target) is in one it has.
    let d = &rows["dangling.example.test"];
    assert_eq!(
        d["dangling"],
        json!([
            "spf-include:_spf.expired.nx",
            "mx:mx.expired-mx.nx",
            "dmarc-rua:reports.expired-rua.nx"
        ])
    );
    assert_eq!(d["dangling_status"], "ok");
    // Names in the domain's own organizational domain (example.test) are never asked.
    for name in ["ok.example.test", "v6.example.test", "v6only.example.test"] {
        assert_eq!(rows[name]["dangling"], json!([]), "{name}");
        assert_eq!(rows[name]["dangling_status"], "ok", "{name}");
    }
    // Not asked further: null, not an empty list.
    assert_eq!(rows["missing.example.test"]["dangling"], json!(null));
    assert_eq!(rows["missing.example.test"]["dangling_status"], json!(null));

    // mx_ipv6: every exchange has an AAAA (v6: mx2.ok; v6only: mx-v6), not every (ok: mx1.ok has
    // none), no usable MX (null MX, NXDOMAIN).
    let v6 = |d: &str| rows[d]["mx_ipv6"].clone();
    assert_eq!(v6("v6.example.test"), true);
    assert_eq!(v6("v6only.example.test"), true);
    assert_eq!(v6("ok.example.test"), false);
    assert_eq!(v6("nullmx.example.test"), json!(null));
    assert_eq!(v6("missing.example.test"), json!(null));
    assert_eq!(v6("dangling.example.test"), false);

    // SMTP over IPv6: the same session as over IPv4, to Postfix on [::1].
    let hosts = common::by_key(common::read_table(&out, "hosts"), "ip");
    let h = &hosts["::1"];
    assert_eq!(h["smtp_status"], "ok", "{h:?}");
    assert_eq!(h["smtp_banner_name"], "pf-v6.example.test", "{h:?}");
    assert_eq!(h["starttls"], true, "{h:?}");
    assert!(
        h["tls_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLS")),
        "{h:?}"
    );
    assert_eq!(h["open_relay"], false, "{h:?}");
}
