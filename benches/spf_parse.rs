//! Parse throughput over a corpus of realistic records, and whole-tree
//! analysis over an in-memory zone (no I/O: every DNS future is ready at
//! once, so a no-op waker drives it).
//!
//! `cargo bench --bench spf_parse -- --quick`

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mxray::checks::spf::{Lookup, SpfDns, analyze, record};

const CORPUS: &[&str] = &[
    "v=spf1 include:_spf.google.com ~all",
    "v=spf1 include:spf.protection.outlook.com -all",
    "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
    "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
    "v=spf1 include:_spf.google.com include:mailgun.org include:servers.mcsv.net include:sendgrid.net ~all",
    "v=spf1 a mx ip4:192.0.2.0/24 -all",
    "v=spf1 mx a:mail.example.com/28 -all",
    "v=spf1 include:amazonses.com -all",
    "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 ip4:52.82.172.0/22 -all",
    "v=spf1 redirect=_spf.example.com",
    "v=spf1 exists:%{i}._spf.mta.salesforce.com -all",
    "v=spf1 include:%{ir}.%{v}.%{d}.spf.has.pphosted.com ~all",
    "v=spf1 ptr -all",
    "v=spf1 -all",
    "v=spf1 +all",
    "v=spf1 ?all",
    "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ip4:198.51.100.0/25 ip6:2001:db8::/32 include:spf.mailjet.com include:_spf.salesforce.com -all exp=explain._spf.%{d}",
    "v=spf1 a:smtp1.example.net a:smtp2.example.net//64 mx:example.net/24//48 ~all",
    "v=spf1 include:spf.protection.outlook.com include:_spf.google.com include:spf.mandrillapp.com include:mail.zendesk.com include:_spf.salesforce.com include:spf.mtasv.net ~all",
    "v=spf1 include:sendgrid.net include:spf.mailjet.com include:_spf.createsend.com ip4:203.0.113.0/24 -all",
    "v=spf1 a mx include:secureserver.net ~all",
    "v=spf1 include:_spf.mlsend.com include:zoho.com -all",
    "v=spf1 ip4:198.2.128.0/18 ip4:205.201.128.0/20 ip4:148.105.8.0/21 -all",
    "v=spf1 mx:mail.example.org include:spf.smtp2go.com ?all",
    "V=SPF1 IP4:192.0.2.0/24 MX -ALL",
    "v=spf1 include:_spf.atlassian.net include:mail.intercom.io include:helpscoutemail.com -all",
    "v=spf1 exists:%{l}.%{d}.users.example.com include:_spf.example.com -all",
    "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip4:203.0.113.0/24 a:relay.example.com mx -all moo=bar",
    "v=spf1 include:_spf.elasticemail.com include:hubspotemail.net ~all",
    "v=spf1 a:%{d} mx:%{d} -all",
];

/// Domains d0..d29 publish the corpus; any other name answers a small
/// provider-like record, one address and one MX, so every walk completes.
struct BenchZone(HashMap<String, String>);

impl SpfDns for BenchZone {
    async fn txt(&self, name: &str) -> Lookup<String> {
        Lookup::Records(vec![self.0.get(name).cloned().unwrap_or_else(|| {
            "v=spf1 ip4:192.0.2.0/25 ip4:198.51.100.0/24 ~all".into()
        })])
    }
    async fn a(&self, _: &str) -> Lookup<Ipv4Addr> {
        Lookup::Records(vec![Ipv4Addr::new(192, 0, 2, 10)])
    }
    async fn aaaa(&self, _: &str) -> Lookup<Ipv6Addr> {
        Lookup::NoData
    }
    async fn mx(&self, _: &str) -> Lookup<(u16, String)> {
        Lookup::Records(vec![(10, "mx.example.com".into())])
    }
    async fn ptr(&self, _: IpAddr) -> Lookup<String> {
        Lookup::NxDomain
    }
}

/// Drives a future whose every await is immediately ready.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn bench(c: &mut Criterion) {
    for r in CORPUS {
        record::parse(r).unwrap_or_else(|e| panic!("corpus record {r:?}: {e}"));
    }
    let mut g = c.benchmark_group("spf");
    g.throughput(Throughput::Elements(CORPUS.len() as u64));
    g.bench_function("parse_corpus", |b| {
        b.iter(|| {
            for r in CORPUS {
                black_box(record::parse(black_box(r)).is_ok());
            }
        })
    });

    let zone = BenchZone(
        CORPUS
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("d{i}.example"), (*r).to_owned()))
            .collect(),
    );
    let domains: Vec<String> = (0..CORPUS.len()).map(|i| format!("d{i}.example")).collect();
    g.bench_function("analyze_corpus", |b| {
        b.iter(|| {
            for d in &domains {
                black_box(block_on(analyze(&zone, black_box(d))));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
