//! An in-memory [`Dns`] for tests and benches (hickory's MockProvider idea): answers from a map,
//! NXDOMAIN for every name it does not know, and a record of every question asked, so a stage's
//! query budget and its error paths are tested without servers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use futures::future::BoxFuture;
use parking_lot::Mutex;

use super::{Answer, Dns, EngineOptions, EngineStats, Rdata, RecordType, Status};

#[derive(Default)]
pub struct MockDns {
    answers: HashMap<(String, RecordType), Answer>,
    /// Names that exist (their other types are NODATA, not NXDOMAIN).
    names: std::collections::HashSet<String>,
    asked: Mutex<Vec<(String, RecordType)>>,
    opts: EngineOptions,
    stats: Arc<EngineStats>,
    /// What [`Dns::backlog`] says (set by a test of the stages' admission).
    backlog: std::sync::atomic::AtomicUsize,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl MockDns {
    pub fn new() -> MockDns {
        MockDns::default()
    }

    /// Makes [`Dns::backlog`] say `n` queries wait for the window.
    pub fn set_backlog(&self, n: usize) {
        self.backlog.store(n, Relaxed);
    }

    /// The answer to (name, type); the name and its parents then exist.
    pub fn answer(mut self, name: &str, rtype: RecordType, answer: Answer) -> MockDns {
        let n = key(name);
        let mut p = n.as_str();
        loop {
            self.names.insert(p.to_string());
            match p.split_once('.') {
                Some((_, rest)) => p = rest,
                None => break,
            }
        }
        self.answers.insert((n, rtype), answer);
        self
    }

    pub fn records(self, name: &str, rtype: RecordType, records: Vec<Rdata>) -> MockDns {
        let answer = Answer {
            status: Status::Ok,
            records,
            ttl: 300,
            error: None,
            authentic: false,
        };
        self.answer(name, rtype, answer)
    }

    pub fn txt(self, name: &str, texts: &[&str]) -> MockDns {
        let records = texts
            .iter()
            .map(|t| Rdata::Txt(vec![t.as_bytes().into()].into()))
            .collect();
        self.records(name, RecordType::TXT, records)
    }

    pub fn mx(self, name: &str, exchanges: &[(u16, &str)]) -> MockDns {
        let records = exchanges
            .iter()
            .map(|(p, e)| Rdata::Mx {
                preference: *p,
                exchange: e.to_string(),
            })
            .collect();
        self.records(name, RecordType::MX, records)
    }

    pub fn addr(self, name: &str, ip: IpAddr) -> MockDns {
        match ip {
            IpAddr::V4(a) => self.records(name, RecordType::A, vec![Rdata::A(a)]),
            IpAddr::V6(a) => self.records(name, RecordType::AAAA, vec![Rdata::Aaaa(a)]),
        }
    }

    /// A failed query (timeout, servfail, ...).
    pub fn fail(self, name: &str, rtype: RecordType, status: Status) -> MockDns {
        self.answer(name, rtype, Answer::failure(status, "mock failure"))
    }

    /// Every question asked so far, in order.
    pub fn asked(&self) -> Vec<(String, RecordType)> {
        self.asked.lock().clone()
    }
}

impl Dns for MockDns {
    fn query<'a>(&'a self, name: &'a str, rtype: RecordType) -> BoxFuture<'a, Answer> {
        let n = key(name);
        self.stats.queries.fetch_add(1, Relaxed);
        self.asked.lock().push((n.clone(), rtype));
        let answer = match self.answers.get(&(n.clone(), rtype)) {
            Some(a) => a.clone(),
            None => Answer {
                status: if self.names.contains(&n) {
                    Status::NoData
                } else {
                    Status::NxDomain
                },
                records: Vec::new(),
                ttl: 300,
                error: None,
                authentic: false,
            },
        };
        self.stats.by_status[answer.status.index()].fetch_add(1, Relaxed);
        Box::pin(std::future::ready(answer))
    }

    fn options(&self) -> &EngineOptions {
        &self.opts
    }

    fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    fn window(&self) -> usize {
        0
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Relaxed)
    }
}
