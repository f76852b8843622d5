//! Micro-benchmarks of the per-domain CPU work outside the network: reading and normalising input
//! lines, encoding queries, and decoding answers (mxray's decoder beside hickory's `Message`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{MX, TXT};
use hickory_proto::rr::{Name, RData, Record};
use mxray::dns::RecordType;
use mxray::dns::answer::{decode, interpret};
use mxray::dns::engine::encode_query;
use mxray::targets::{DomainReader, Item, ReaderOptions};

fn input(n: usize) -> String {
    let mut s = String::from("# generated\n");
    for i in 0..n {
        match i % 10 {
            0 => s += &format!("{},Bücher{i}.Example.de.\n", i + 1),
            1 => s += &format!("{},not a domain {i}\n", i + 1),
            _ => s += &format!("{},www{i}.example-{}.com\n", i + 1, i % 97),
        }
    }
    s
}

fn reading(c: &mut Criterion) {
    let text = input(100_000);
    let mut g = c.benchmark_group("targets");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("read+normalise 100k tranco lines", |b| {
        b.iter(|| {
            let r = DomainReader::new(text.as_bytes(), ReaderOptions::default());
            let n = r.filter(|i| matches!(i, Ok(Item::Target(_)))).count();
            black_box(n)
        })
    });
    g.finish();
}

fn answer_bytes() -> Vec<u8> {
    let q = encode_query("example.com", RecordType::MX, 1232, false).unwrap();
    let req = Message::from_vec(&q).unwrap();
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.recursion_available = true;
    m.add_queries(req.queries);
    for (p, h) in [(10, "mx1.example.com."), (20, "mx2.example.com.")] {
        m.add_answer(Record::from_rdata(
            Name::from_ascii("example.com.").unwrap(),
            300,
            RData::MX(MX::new(p, Name::from_ascii(h).unwrap())),
        ));
    }
    m.add_answer(Record::from_rdata(
        Name::from_ascii("example.com.").unwrap(),
        300,
        RData::TXT(TXT::new(vec!["v=spf1 include:_spf.google.com ~all".into()])),
    ));
    m.to_vec().unwrap()
}

fn messages(c: &mut Criterion) {
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode query", |b| {
        b.iter(|| encode_query(black_box("www.example.com"), RecordType::A, 1232, false).unwrap())
    });
    let bytes = answer_bytes();
    g.bench_function("decode MX answer (answer::decode)", |b| {
        b.iter(|| decode(black_box(&bytes), RecordType::MX).unwrap())
    });
    g.bench_function("decode + interpret MX answer (hickory Message)", |b| {
        b.iter(|| {
            interpret(
                Message::from_vec(black_box(&bytes)).unwrap(),
                RecordType::MX,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, reading, messages);
criterion_main!(benches);
