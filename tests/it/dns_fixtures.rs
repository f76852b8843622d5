//! The engine against real servers on loopback: Unbound (recursive) in front of Knot
//! (authoritative), as started by tests/fixtures/up.sh. Every status of the contract is produced by
//! a real server, not a mock.

use crate::common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use mxray::dns::{Engine, EngineOptions, Rdata, RecordType, Status};

async fn engine(servers: Vec<std::net::SocketAddr>) -> Engine {
    Engine::new(EngineOptions {
        servers,
        timeout: Duration::from_millis(1500),
        retries: 1,
        ..EngineOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_status_from_real_servers() {
    let Some(f) = common::fixtures("every_status_from_real_servers") else {
        return;
    };
    let e = engine(vec![f.resolver]).await;

    let a = e.query("ok.example.test", RecordType::MX).await;
    assert_eq!(a.status, Status::Ok, "{a:?}");
    let mut mx: Vec<_> = a
        .records
        .iter()
        .map(|r| match r {
            Rdata::Mx {
                preference,
                exchange,
            } => (*preference, exchange.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    mx.sort();
    assert_eq!(
        mx,
        [(10, "mx1.ok.example.test"), (20, "mx2.ok.example.test")]
    );

    let a = e.query("mx2.ok.example.test", RecordType::AAAA).await;
    assert_eq!(a.records, [Rdata::Aaaa(Ipv6Addr::LOCALHOST)]);

    let a = e.query("nodata.example.test", RecordType::MX).await;
    assert_eq!((a.status, a.records.len()), (Status::NoData, 0));
    assert!(a.error.is_none());

    let a = e.query("missing.example.test", RecordType::MX).await;
    assert_eq!(a.status, Status::NxDomain);

    // Delegated to 127.0.0.99, whose server refuses everything: Unbound answers SERVFAIL.
    let a = e.query("broken.example.test", RecordType::MX).await;
    assert_eq!(a.status, Status::ServFail, "{a:?}");

    // A CNAME is followed by the resolver; the records of the target count.
    let a = e.query("cname.example.test", RecordType::MX).await;
    assert_eq!((a.status, a.records.len()), (Status::Ok, 2));

    // Knot is authoritative only: a name outside its zones is REFUSED.
    let knot = engine(vec![f.auth]).await;
    let a = knot.query("foo.invalid", RecordType::A).await;
    assert_eq!(a.status, Status::Refused, "{a:?}");
    // ... and a name in its zone is answered directly.
    let a = knot.query("mx1.ok.example.test", RecordType::A).await;
    assert_eq!(a.records, [Rdata::A(Ipv4Addr::new(127, 0, 0, 10))]);

    let stats = e.stats();
    assert_eq!(stats.status_count(Status::Ok), 3);
    assert_eq!(stats.status_count(Status::NoData), 1);
    assert_eq!(stats.status_count(Status::NxDomain), 1);
    assert_eq!(stats.status_count(Status::ServFail), 1);
}

#[tokio::test]
async fn a_resolver_that_drops_queries_times_out_and_the_next_one_answers() {
    let Some(f) = common::fixtures("timeout") else {
        return;
    };
    // A real socket that receives and never answers.
    let hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let hole_addr = hole.local_addr().unwrap();

    let e = engine(vec![hole_addr]).await;
    let a = e.query("ok.example.test", RecordType::MX).await;
    assert_eq!(a.status, Status::Timeout);
    // Two attempts, then the second pass's two.
    assert_eq!(e.stats().udp_sent.load(Relaxed), 4);

    let e = engine(vec![hole_addr, f.resolver]).await;
    for name in ["ok.example.test", "nullmx.example.test"] {
        let a = e.query(name, RecordType::MX).await;
        assert_eq!(a.status, Status::Ok, "{name}: {a:?}");
    }
    assert_eq!(
        e.stats().retries.load(Relaxed),
        1,
        "one of the two started on the hole"
    );
    drop(hole);
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let Some(f) = common::fixtures("truncation") else {
        return;
    };
    for server in [f.resolver, f.auth] {
        let e = engine(vec![server]).await;
        let a = e.query("big.example.test", RecordType::TXT).await;
        assert_eq!(a.status, Status::Ok, "{server}: {a:?}");
        assert_eq!(
            a.records.len(),
            9,
            "{server}: the whole RRset, not a truncated part"
        );
        assert_eq!(
            a.txt_joined()
                .filter(|t| t.starts_with("v=spf1"))
                .collect::<Vec<_>>(),
            ["v=spf1 ip4:127.0.0.1 -all"]
        );
        assert_eq!(e.stats().tcp_fallbacks.load(Relaxed), 1, "{server}");
    }
}

#[tokio::test]
async fn split_txt_strings_stay_apart_and_join_for_spf() {
    let Some(f) = common::fixtures("split") else {
        return;
    };
    let e = engine(vec![f.resolver]).await;
    let a = e.query("split.example.test", RecordType::TXT).await;
    match &a.records[..] {
        [Rdata::Txt(strings)] => assert_eq!(strings.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.txt_joined().collect::<Vec<_>>(),
        ["v=spf1 ip4:127.0.0.0/8 include:ok.example.test -all"]
    );
}
