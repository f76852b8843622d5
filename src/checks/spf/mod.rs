//! Sender Policy Framework (RFC 7208): record parser, macro expander,
//! `check_host()` evaluator and a whole-tree analysis for scanner output.
//!
//! Layout:
//! - [`record`]: the RFC 7208 section 12 ABNF as types, and the parser.
//! - [`macros`]: macro-string validation and expansion (section 7).
//! - [`eval`]: `check_host()` (sections 4 to 6) over an async [`SpfDns`].
//! - [`mod@analyze`]: walks a domain's whole include/redirect tree without a
//!   client IP and reports what a scanner records per domain.
//! - [`findings`]: that report as the domain row's `spf_*` columns (the one
//!   file that refers to the crate's output types).
//!
//! The module does no I/O of its own: every DNS answer comes through
//! [`SpfDns`], which the scanner implements over its cached resolver and the
//! tests implement in memory. It refers to its siblings with `super::` only,
//! so it can be moved as a unit.

pub mod analyze;
pub mod eval;
pub mod findings;
pub mod macros;
pub mod record;

pub use analyze::{
    Ipv4Set, ProviderRow, SpfAnalysis, SpfStatus, analyze, analyze_with, load_providers, providers,
};
pub use eval::{CheckParams, SpfOutcome, SpfResult, check_host, check_host_with};
pub use findings::SpfFindings;
pub use macros::{MacroError, MacroString, MacroVars};
pub use record::{
    Directive, DomainSpec, DualCidr, Mechanism, ParseError, ParseErrorKind, Qualifier, Record,
};

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::checks::Lookup;

/// The DNS queries SPF needs. The real scanner implements it over its cached
/// async DNS engine; tests and benches implement it over a map.
pub trait SpfDns: Sync {
    /// Every TXT record at `name`, each record's character-strings concatenated without separator.
    fn txt(&self, name: &str) -> impl Future<Output = Lookup<String>> + Send;
    fn a(&self, name: &str) -> impl Future<Output = Lookup<Ipv4Addr>> + Send;
    fn aaaa(&self, name: &str) -> impl Future<Output = Lookup<Ipv6Addr>> + Send;
    /// (preference, exchange)
    fn mx(&self, name: &str) -> impl Future<Output = Lookup<(u16, String)>> + Send;
    fn ptr(&self, ip: IpAddr) -> impl Future<Output = Lookup<String>> + Send;
}

/// RFC 7208 4.6.4: at most 10 terms that cause DNS queries per evaluation.
pub const MAX_DNS_TERMS: u32 = 10;
/// RFC 7208 4.6.4: more than 2 void lookups is a permerror.
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// RFC 7208 4.6.4: MX names looked up per `mx` term, PTR names per `ptr`.
pub const MAX_NAMES_PER_TERM: usize = 10;
/// RFC 7208 4.5 keeps the version tag exactly `v=spf1` followed by a space
/// or the end of the record (compared ignoring ASCII case, 4.6.1).
pub fn is_spf_record(txt: &str) -> bool {
    let b = txt.as_bytes();
    b.len() >= 6 && b[..6].eq_ignore_ascii_case(b"v=spf1") && (b.len() == 6 || b[6] == b' ')
}

/// An IPv4-mapped IPv6 client (`::ffff:a.b.c.d`) is evaluated as the IPv4
/// address it carries (RFC 7208 5 and 5.6 compare against the client's
/// actual address family).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Lowercases, drops one trailing dot and applies the RFC 7208 7.3 rule for
/// names longer than 253 characters (drop labels from the left). Returns None
/// when the result cannot be a DNS name (empty or over-long label,
/// non-ASCII), so the caller treats the term as not matching without a query.
fn normalize_target(name: &str) -> Option<String> {
    let mut s = name.strip_suffix('.').unwrap_or(name);
    while s.len() > 253 {
        match s.find('.') {
            Some(i) => s = &s[i + 1..],
            None => return None,
        }
    }
    if s.is_empty() || !s.is_ascii() {
        return None;
    }
    if s.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

/// An in-memory [`SpfDns`] for the unit tests of the sibling modules: a
/// name in any map exists (so other types answer NoData), and `fail`
/// names time out.
#[cfg(test)]
mod testdns {
    use super::{Lookup, SpfDns};
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[derive(Default)]
    pub struct Zone {
        pub txt: HashMap<String, Vec<String>>,
        pub a: HashMap<String, Vec<Ipv4Addr>>,
        pub aaaa: HashMap<String, Vec<Ipv6Addr>>,
        pub mx: HashMap<String, Vec<(u16, String)>>,
        pub fail: Vec<String>,
    }

    impl Zone {
        pub fn new() -> Self {
            Self::default()
        }
        pub fn txt(mut self, name: &str, rec: &str) -> Self {
            self.txt.entry(name.into()).or_default().push(rec.into());
            self
        }
        pub fn a(mut self, name: &str, ip: &str) -> Self {
            self.a
                .entry(name.into())
                .or_default()
                .push(ip.parse().unwrap());
            self
        }
        pub fn aaaa(mut self, name: &str, ip: &str) -> Self {
            self.aaaa
                .entry(name.into())
                .or_default()
                .push(ip.parse().unwrap());
            self
        }
        pub fn mx(mut self, name: &str, pref: u16, host: &str) -> Self {
            self.mx
                .entry(name.into())
                .or_default()
                .push((pref, host.into()));
            self
        }
        pub fn fail(mut self, name: &str) -> Self {
            self.fail.push(name.into());
            self
        }
        fn exists(&self, name: &str) -> bool {
            self.txt.contains_key(name)
                || self.a.contains_key(name)
                || self.aaaa.contains_key(name)
                || self.mx.contains_key(name)
        }
        fn get<T: Clone>(&self, map: &HashMap<String, Vec<T>>, name: &str) -> Lookup<T> {
            if self.fail.iter().any(|f| f == name) {
                return Lookup::TempError("timeout".into());
            }
            match map.get(name) {
                Some(v) => Lookup::Records(v.clone()),
                None if self.exists(name) => Lookup::NoData,
                None => Lookup::NxDomain,
            }
        }
    }

    impl SpfDns for Zone {
        async fn txt(&self, name: &str) -> Lookup<String> {
            self.get(&self.txt, name)
        }
        async fn a(&self, name: &str) -> Lookup<Ipv4Addr> {
            self.get(&self.a, name)
        }
        async fn aaaa(&self, name: &str) -> Lookup<Ipv6Addr> {
            self.get(&self.aaaa, name)
        }
        async fn mx(&self, name: &str) -> Lookup<(u16, String)> {
            self.get(&self.mx, name)
        }
        async fn ptr(&self, _ip: IpAddr) -> Lookup<String> {
            Lookup::NxDomain
        }
    }
}

/// Quick check without proptest: pseudo-random inputs (fixed seed, so a
/// failure reproduces) must never panic and must keep outputs bounded.
#[cfg(test)]
mod robustness {
    use super::macros::{Grammar, MAX_EXPANSION, MacroString, MacroVars};
    use super::testdns::Zone;
    use super::{analyze, check_host, record};

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const TOKENS: &[&str] = &[
        "v=spf1",
        " ",
        " ",
        "  ",
        "a",
        "mx",
        "ptr",
        "all",
        "include",
        "exists",
        "ip4",
        "ip6",
        "redirect",
        "exp",
        "=",
        ":",
        "/",
        "//",
        "-",
        "+",
        "~",
        "?",
        ".",
        "%",
        "%{",
        "}",
        "%%",
        "%_",
        "%-",
        "d",
        "i",
        "ir",
        "l2r-",
        "s",
        "p",
        "c",
        "0",
        "1",
        "24",
        "32",
        "128",
        "999",
        "example.com",
        "x.example.com",
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:1.2.3.4",
        "com",
        "\u{e9}",
        "\r",
        "\t",
        "\0",
        "{",
        "_spf",
        "%{d}",
        "%{i}",
        "%{p}",
        "%{h}.",
        "foo=",
    ];

    fn random_input(rng: &mut XorShift) -> String {
        if rng.below(3) == 0 {
            let len = rng.below(80);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            let mut s = String::new();
            if rng.below(4) != 0 {
                s.push_str("v=spf1 ");
            }
            for _ in 0..rng.below(24) {
                s.push_str(TOKENS[rng.below(TOKENS.len())]);
            }
            s
        }
    }

    /// The scanner drives these on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        let z = Zone::new();
        let ip = "192.0.2.1".parse().unwrap();
        is_send(&check_host(&z, ip, "example.com", "u@example.com", "h"));
        is_send(&analyze(&z, "example.com"));
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let vars = MacroVars {
            sender: "a.b-c+d@example.com",
            local: "a.b-c+d",
            sender_domain: "example.com",
            domain: "example.com",
            ip: "2001:db8::1".parse().unwrap(),
            helo: "mail.example.com",
            validated: None,
            receiver: "unknown",
            timestamp: 1,
        };
        let mut parsed = Vec::new();
        for _ in 0..4000 {
            let input = random_input(&mut rng);
            if let Ok(r) = record::parse(&input) {
                if parsed.len() < 300 {
                    parsed.push(input.clone());
                }
                drop(r);
            } else if let Err(e) = record::parse(&input) {
                assert!(e.at <= input.len());
                assert!(e.to_string().len() < 400, "unbounded message: {e}");
            }
            for g in [Grammar::DomainSpec, Grammar::Explain, Grammar::Unknown] {
                if let Ok((m, _)) = MacroString::parse(&input, g) {
                    assert!(m.expand(&vars, true).len() <= MAX_EXPANSION);
                    assert!(m.expand(&vars, false).len() <= MAX_EXPANSION);
                }
            }
            let _ = record::DomainSpec::parse(&input);
        }
        assert!(parsed.len() > 50, "generator too hostile: {}", parsed.len());

        // Evaluate the records that parsed, in a zone where they include
        // and redirect to themselves, so limits and loops get exercised.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for rec in parsed {
            let z = Zone::new()
                .txt("example.com", &rec)
                .txt("x.example.com", &rec)
                .a("x.example.com", "192.0.2.1")
                .mx("example.com", 1, "x.example.com");
            rt.block_on(async {
                let ip = "192.0.2.1".parse().unwrap();
                let out = check_host(&z, ip, "example.com", "u@example.com", "h.example").await;
                assert!(out.lookups <= 11);
                let a = analyze(&z, "example.com").await;
                assert!(a.include_tree.len() <= 200);
            });
        }
    }
}
