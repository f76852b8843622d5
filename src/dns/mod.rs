//! DNS: the query engine (sockets, ids, timers, retries, TCP fallback) and the shared cache with
//! single-flight in front of it.
//!
//! The engine speaks to recursive resolvers with hickory-proto messages over its own UDP transport,
//! because hickory-resolver's lookup API opens a socket per query and tops out far below what a local
//! resolver can answer (see benches/README.md).

pub mod answer;
pub mod batch_io;
pub mod cache;
pub mod engine;
pub mod health;
pub mod mock;
pub mod system;
pub mod window;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use cache::{CacheOptions, CacheStats, Resolver};
pub use engine::{Engine, EngineOptions, EngineStats};
pub use hickory_proto::rr::RecordType;
pub use mock::MockDns;

/// Where the cache's misses go: the [`Engine`] on a real scan, a [`MockDns`] in tests. Boxed
/// futures keep it object-safe; one allocation per query sent is nothing beside the query.
pub trait Dns: Send + Sync + 'static {
    /// Asks one question. Never fails: every problem is a status in the answer.
    fn query<'a>(
        &'a self,
        name: &'a str,
        rtype: RecordType,
    ) -> futures::future::BoxFuture<'a, Answer>;
    fn options(&self) -> &EngineOptions;
    fn stats(&self) -> &std::sync::Arc<EngineStats>;
    /// The in-flight window's current size.
    fn window(&self) -> usize;
    /// Queries waiting for a place in the window (see [`Engine::backlog`]).
    fn backlog(&self) -> usize;
    /// Which resolvers answer (None: a mock, whose resolvers always do).
    fn health(&self) -> Option<&health::Health> {
        None
    }
}

impl Dns for Engine {
    fn query<'a>(
        &'a self,
        name: &'a str,
        rtype: RecordType,
    ) -> futures::future::BoxFuture<'a, Answer> {
        Box::pin(Engine::query(self, name, rtype))
    }
    fn options(&self) -> &EngineOptions {
        Engine::options(self)
    }
    fn stats(&self) -> &std::sync::Arc<EngineStats> {
        Engine::stats(self)
    }
    fn window(&self) -> usize {
        Engine::window(self)
    }
    fn backlog(&self) -> usize {
        Engine::backlog(self)
    }
    fn health(&self) -> Option<&health::Health> {
        Some(Engine::health(self))
    }
}

/// Outcome of one DNS query: the closed set of the output contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The name has records of the asked type.
    Ok,
    /// The name exists but has no record of that type (NOERROR, empty answer).
    NoData,
    /// The name does not exist.
    NxDomain,
    ServFail,
    Refused,
    /// No matching answer within the timeout, after every retry.
    Timeout,
    /// Anything else: network errors, undecodable answers, other rcodes, referrals.
    Error,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Ok,
        Status::NoData,
        Status::NxDomain,
        Status::ServFail,
        Status::Refused,
        Status::Timeout,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoData => "nodata",
            Status::NxDomain => "nxdomain",
            Status::ServFail => "servfail",
            Status::Refused => "refused",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }

    /// True when the query did not get an authoritative answer about the name: the data is unknown,
    /// which must never be reported as "no record".
    pub fn is_failure(self) -> bool {
        !matches!(self, Status::Ok | Status::NoData | Status::NxDomain)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record data mxray uses, with names already normalised (lowercase ASCII, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings of one TXT record, kept apart: SPF joins them, length checks need them.
    Txt(Box<[Box<[u8]>]>),
    Ptr(String),
    Cname(String),
    Soa {
        mname: String,
        rname: String,
    },
    /// RFC 6698 2.1: certificate usage, selector, matching type (the association data is not kept).
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
    },
    /// A record type mxray does not interpret; the type code is kept.
    Other(u16),
}

/// The answer to one (name, type) question, as the cache stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    /// Records of the asked type (following the CNAME chain the resolver returned).
    pub records: Vec<Rdata>,
    /// Seconds the answer may be cached: the smallest record TTL, or the SOA minimum for negative
    /// answers, 0 when unknown.
    pub ttl: u32,
    /// What went wrong, for statuses other than ok/nodata/nxdomain.
    pub error: Option<Box<str>>,
    /// The resolver set the AD bit (it validated the answer with DNSSEC).
    pub authentic: bool,
}

impl Answer {
    pub fn failure(status: Status, error: impl Into<Box<str>>) -> Answer {
        Answer {
            status,
            records: Vec::new(),
            ttl: 0,
            error: Some(error.into()),
            authentic: false,
        }
    }

    /// Each TXT record's strings joined without separator (RFC 7208 3.3), lossily decoded.
    pub fn txt_joined(&self) -> impl Iterator<Item = String> + '_ {
        self.records.iter().filter_map(|r| match r {
            Rdata::Txt(strings) => {
                let bytes: Vec<u8> = strings.iter().flat_map(|s| s.iter().copied()).collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => None,
        })
    }

    /// A and AAAA addresses in the answer.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.records.iter().filter_map(|r| match r {
            Rdata::A(a) => Some(IpAddr::V4(*a)),
            Rdata::Aaaa(a) => Some(IpAddr::V6(*a)),
            _ => None,
        })
    }

    /// MX records as (preference, exchange).
    pub fn mx(&self) -> Vec<(u16, String)> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Rdata::Mx {
                    preference,
                    exchange,
                } => Some((*preference, exchange.clone())),
                _ => None,
            })
            .collect()
    }

    /// A records.
    pub fn v4(&self) -> Vec<Ipv4Addr> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Rdata::A(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    /// AAAA records.
    pub fn v6(&self) -> Vec<Ipv6Addr> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Rdata::Aaaa(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    /// PTR names.
    pub fn ptrs(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Rdata::Ptr(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// `status: error` for failures, plain status otherwise: the text of error columns.
    pub fn describe(&self) -> String {
        match &self.error {
            Some(e) => format!("{}: {e}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa`, or the nibbles under `ip6.arpa`
/// (RFC 1035 3.5, RFC 3596 2.5).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for b in v6.octets().iter().rev() {
                for nibble in [b & 0xf, b >> 4] {
                    s.push(char::from_digit(nibble.into(), 16).expect("nibble"));
                    s.push('.');
                }
            }
            s + "ip6.arpa"
        }
    }
}

/// Lowercase ASCII, without the trailing dot; the root is the empty string.
pub fn normalize_name(name: &hickory_proto::rr::Name) -> String {
    let mut s = name.to_ascii();
    if s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_render_as_the_contract_says() {
        let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "ok", "nodata", "nxdomain", "servfail", "refused", "timeout", "error"
            ]
        );
        assert!(!Status::NxDomain.is_failure());
        assert!(Status::Timeout.is_failure());
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn txt_strings_join_without_separator() {
        let a = Answer {
            status: Status::Ok,
            records: vec![Rdata::Txt(
                vec![b"v=spf1 ".to_vec().into(), b"-all".to_vec().into()].into(),
            )],
            ttl: 60,
            error: None,
            authentic: false,
        };
        assert_eq!(a.txt_joined().collect::<Vec<_>>(), ["v=spf1 -all"]);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn names_are_normalised() {
        let n = hickory_proto::rr::Name::from_ascii("MX1.Example.COM.").unwrap();
        assert_eq!(normalize_name(&n), "mx1.example.com");
        assert_eq!(normalize_name(&hickory_proto::rr::Name::root()), "");
    }
}
