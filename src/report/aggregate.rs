//! The report's aggregates: exact counts only (no sampling, no floating point, no "top N so far"),
//! so that merging partial aggregates is associative and commutative and the report of N shards
//! equals the report of one unsharded scan. Shares and top-N lists are derived when rendering.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counts by key. Keys are the column's own text (`valid`, `TLSv1.3`, a zone name); a null cell
/// counts under [`NULL`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Counter(pub BTreeMap<String, u64>);

/// The key a null cell counts under.
pub const NULL: &str = "null";

impl Counter {
    pub fn add(&mut self, key: &str) {
        self.add_n(key, 1);
    }

    pub fn add_n(&mut self, key: &str, n: u64) {
        // A lookup first: most keys exist already, and `entry` would allocate the key every time.
        match self.0.get_mut(key) {
            Some(v) => *v += n,
            None => {
                self.0.insert(key.to_owned(), n);
            }
        }
    }

    /// Counts an optional cell, null under [`NULL`].
    pub fn add_opt(&mut self, key: Option<&str>) {
        self.add(key.unwrap_or(NULL));
    }

    pub fn add_bool(&mut self, v: Option<bool>) {
        self.add(match v {
            Some(true) => "true",
            Some(false) => "false",
            None => NULL,
        });
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// All keys but null.
    pub fn known(&self) -> u64 {
        self.total() - self.get(NULL)
    }

    /// The `n` largest counts, ties by key, so the list is the same whatever the merge order.
    pub fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.0.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}

/// Merging of partial aggregates: `a.merge(b)` holds the counts of both.
pub trait Merge {
    fn merge(&mut self, other: Self);
}

impl Merge for u64 {
    fn merge(&mut self, other: u64) {
        *self += other;
    }
}

impl Merge for Counter {
    fn merge(&mut self, other: Counter) {
        if self.0.is_empty() {
            *self = other;
            return;
        }
        for (k, n) in other.0 {
            *self.0.entry(k).or_default() += n;
        }
    }
}

impl<K: Ord, V: Merge + Default> Merge for BTreeMap<K, V> {
    fn merge(&mut self, other: BTreeMap<K, V>) {
        for (k, v) in other {
            Merge::merge(self.entry(k).or_default(), v);
        }
    }
}

macro_rules! merge_fields {
    ($t:ty { $($f:ident),* $(,)? }) => {
        impl Merge for $t {
            fn merge(&mut self, other: $t) {
                $( Merge::merge(&mut self.$f, other.$f); )*
            }
        }
    };
}

/// Everything the report says, as counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aggregates {
    pub domains: DomainAgg,
    pub hosts: HostAgg,
    pub readiness: ReadinessAgg,
}
merge_fields!(Aggregates {
    domains,
    hosts,
    readiness
});

/// Counts over the domains table. Unless said otherwise, a counter counts domains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DomainAgg {
    pub rows: u64,
    pub domain_status: Counter,
    pub mx_status: Counter,
    /// `mx_null` (true/false/null).
    pub mx_null: Counter,
    pub mx_ips_status: Counter,
    /// Domains with at least one exchange that is not the null MX's root.
    pub with_mx: u64,
    /// Domains per `mx_errors` code (a domain counts once per code).
    pub mx_errors: Counter,
    /// Domains per registrable domain (Public Suffix List) of their exchanges, each once.
    pub mx_operators: Counter,
    pub spf_status: Counter,
    /// Domains per `spf_errors` code, among `permerror` domains.
    pub spf_permerror_codes: Counter,
    /// Domains per `spf_errors` code, all statuses.
    pub spf_errors: Counter,
    /// `spf_lookups` value -> domains (non-null values only).
    pub spf_lookups: BTreeMap<u32, u64>,
    /// `spf_void_lookups` value -> domains.
    pub spf_void_lookups: BTreeMap<u32, u64>,
    /// `spf_all` of `valid` records.
    pub spf_all: Counter,
    /// `spf_ipv4_authorized` of `valid` records in powers of two: bucket 0 holds 0 addresses,
    /// bucket b (1..=33) holds 2^(b-1) ..= 2^b - 1.
    pub spf_ipv4_buckets: BTreeMap<u32, u64>,
    /// `valid` records whose authorised space is null (exists, ptr, macros, a failed lookup).
    pub spf_ipv4_unknown: u64,
    pub spf_providers: Counter,
    pub spf_flags: Counter,
    pub dmarc_status: Counter,
    pub dmarc_p: Counter,
    pub dmarc_effective_p: Counter,
    /// `dmarc_source` of records found.
    pub dmarc_source: Counter,
    /// `dmarc_methods_differ`: RFC 9989's and RFC 7489's discovery judge the domain differently.
    pub dmarc_methods_differ: Counter,
    /// `dmarc_pct` of `valid` records: the value, or null when absent (100 applies).
    pub dmarc_pct: Counter,
    /// `valid` records with at least one `rua` URI.
    pub dmarc_rua: u64,
    /// Records with a `rua`/`ruf` destination outside their Organizational Domain.
    pub dmarc_external: u64,
    /// ... of which at least one does not authorise the reports (RFC 7489 7.1).
    pub dmarc_external_unauthorized: u64,
    pub dmarc_errors: Counter,
    pub dkim_status: Counter,
    /// Domains with at least one selector found.
    pub dkim_with_selector: u64,
    /// Domains per selector found.
    pub dkim_selectors: Counter,
    /// Key records per `type bits` (`rsa 2048`, `ed25519 256`, `rsa unknown`).
    pub dkim_keys: Counter,
    /// Key records: RSA under 1024 bits, not revoked.
    pub dkim_weak_keys: u64,
    /// Domains with such a key.
    pub dkim_weak_domains: u64,
    pub dkim_errors: Counter,
    pub mta_sts_status: Counter,
    pub mta_sts_policy_status: Counter,
    pub mta_sts_mode: Counter,
    pub tls_rpt_status: Counter,
    pub bimi_status: Counter,
    pub dane_status: Counter,
    /// Domains with at least one TLSA record.
    pub dane_tlsa: u64,
    pub dane_all_mx: Counter,
    /// `mx_ipv6` (true/false/null).
    pub mx_ipv6: Counter,
    pub dangling_status: Counter,
    /// Domains with at least one dangling name.
    pub dangling_domains: u64,
    /// Domains per kind of dangling name (a domain counts once per kind).
    pub dangling_kinds: Counter,
}
merge_fields!(DomainAgg {
    rows,
    domain_status,
    mx_status,
    mx_null,
    mx_ips_status,
    with_mx,
    mx_errors,
    mx_operators,
    spf_status,
    spf_permerror_codes,
    spf_errors,
    spf_lookups,
    spf_void_lookups,
    spf_all,
    spf_ipv4_buckets,
    spf_ipv4_unknown,
    spf_providers,
    spf_flags,
    dmarc_status,
    dmarc_p,
    dmarc_effective_p,
    dmarc_source,
    dmarc_methods_differ,
    dmarc_pct,
    dmarc_rua,
    dmarc_external,
    dmarc_external_unauthorized,
    dmarc_errors,
    dkim_status,
    dkim_with_selector,
    dkim_selectors,
    dkim_keys,
    dkim_weak_keys,
    dkim_weak_domains,
    dkim_errors,
    mta_sts_status,
    mta_sts_policy_status,
    mta_sts_mode,
    tls_rpt_status,
    bimi_status,
    dane_status,
    dane_tlsa,
    dane_all_mx,
    mx_ipv6,
    dangling_status,
    dangling_domains,
    dangling_kinds,
});

/// The power-of-two bucket of an address count (see `DomainAgg::spf_ipv4_buckets`).
pub fn ipv4_bucket(n: u64) -> u32 {
    64 - n.leading_zeros()
}

/// Counts over the hosts table, each address once (a shard's copy of an address another shard
/// also probed is left out when reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostAgg {
    pub rows: u64,
    pub host_status: Counter,
    /// Of checked hosts (`host_status` ok).
    pub ptr_status: Counter,
    pub fcrdns: Counter,
    /// Checked hosts per zone listing them.
    pub dnsbl_listed: Counter,
    /// Checked hosts per zone that answered with an error code or failed (`dnsbl_errors`).
    pub dnsbl_errors: Counter,
    /// Checked hosts listed in at least one zone.
    pub dnsbl_listed_any: u64,
    /// Per origin AS of checked hosts.
    pub asn: BTreeMap<u32, AsAgg>,
    /// Checked hosts without a known origin AS.
    pub asn_unknown: u64,
    pub smtp_status: Counter,
    /// `smtp_outcome` of hosts an SMTP connection was attempted to (`smtp_status` neither null
    /// nor skipped).
    pub smtp_outcome: Counter,
    /// `starttls` of hosts with an SMTP dialogue (`smtp_status` ok or tls-error); null: the
    /// session ended before EHLO. The counters below count the same hosts.
    pub starttls: Counter,
    pub tls_version: Counter,
    pub tls_cert_valid: Counter,
    pub open_relay: Counter,
    pub open_relay_direct: Counter,
    pub accepts_any_recipient: Counter,
    /// `rpki_status` of checked hosts (null: no `--rpki-vrps`, or no known route).
    pub rpki_status: Counter,
}
merge_fields!(HostAgg {
    rows,
    host_status,
    ptr_status,
    fcrdns,
    dnsbl_listed,
    dnsbl_errors,
    dnsbl_listed_any,
    asn,
    asn_unknown,
    smtp_status,
    smtp_outcome,
    starttls,
    tls_version,
    tls_cert_valid,
    open_relay,
    open_relay_direct,
    accepts_any_recipient,
    rpki_status,
});

/// One origin AS: addresses scanned and listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AsAgg {
    pub hosts: u64,
    pub listed_any: u64,
    /// Addresses per zone listing them.
    pub listed: Counter,
    /// The `asn_name` seen first in key order, so it is the same whatever the merge order.
    pub name: Option<String>,
    /// Addresses per `rpki_status` (`valid`, `invalid`, `not-found`); empty without
    /// `--rpki-vrps`.
    pub rpki: Counter,
}

impl Merge for AsAgg {
    fn merge(&mut self, other: AsAgg) {
        self.hosts += other.hosts;
        self.listed_any += other.listed_any;
        self.listed.merge(other.listed);
        self.rpki.merge(other.rpki);
        self.name = match (self.name.take(), other.name) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The readiness verdicts, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadinessAgg {
    /// `ready_bulk_sender`: true, false, null.
    pub ready: Counter,
    /// Domains per failed requirement code.
    pub failed: Counter,
    /// Domains per requirement that could not be judged.
    pub unknown: Counter,
}
merge_fields!(ReadinessAgg {
    ready,
    failed,
    unknown
});

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(items: &[(&str, u64)]) -> Counter {
        let mut c = Counter::default();
        for (k, n) in items {
            c.add_n(k, *n);
        }
        c
    }

    fn agg(seed: u64) -> Aggregates {
        let mut a = Aggregates::default();
        a.domains.rows = seed;
        a.domains.spf_status = counter(&[("valid", seed), ("none", seed * 2 + 1)]);
        a.domains.spf_lookups.insert((seed % 3) as u32, seed + 1);
        a.hosts.asn.insert(
            (seed % 2) as u32,
            AsAgg {
                hosts: seed,
                listed_any: 1,
                listed: counter(&[("zen", 1)]),
                name: Some(format!("AS-{seed}")),
                rpki: counter(&[("valid", seed), ("invalid", 1)]),
            },
        );
        a.readiness.failed = counter(&[("dkim-none", seed)]);
        a
    }

    fn merged(parts: impl IntoIterator<Item = Aggregates>) -> Aggregates {
        let mut acc = Aggregates::default();
        for p in parts {
            acc.merge(p);
        }
        acc
    }

    #[test]
    fn merge_is_associative_and_commutative() {
        let (a, b, c) = (agg(1), agg(2), agg(5));
        let left = {
            let mut ab = a.clone();
            ab.merge(b.clone());
            ab.merge(c.clone());
            ab
        };
        let right = {
            let mut bc = b.clone();
            bc.merge(c.clone());
            let mut x = a.clone();
            x.merge(bc);
            x
        };
        assert_eq!(left, right);
        assert_eq!(left, merged([c.clone(), a.clone(), b.clone()]));
        assert_eq!(left, merged([b, c, a]));
        assert_eq!(left.domains.rows, 8);
        assert_eq!(left.domains.spf_status.get("none"), 3 + 5 + 11);
        // AS 1 from seeds 1 and 5: the name is the smallest, whichever came first.
        assert_eq!(left.hosts.asn[&1].name.as_deref(), Some("AS-1"));
        assert_eq!(left.hosts.asn[&1].hosts, 6);
    }

    #[test]
    fn merging_the_empty_aggregate_changes_nothing() {
        let a = agg(3);
        assert_eq!(merged([Aggregates::default(), a.clone()]), a);
        assert_eq!(merged([a.clone(), Aggregates::default()]), a);
    }

    #[test]
    fn top_breaks_ties_by_name() {
        let c = counter(&[("b", 2), ("a", 2), ("c", 5), ("d", 1)]);
        assert_eq!(c.top(3), [("c", 5), ("a", 2), ("b", 2)]);
        assert_eq!(c.top(10).len(), 4);
        assert_eq!(c.total(), 10);
    }

    #[test]
    fn ipv4_buckets_are_powers_of_two() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (256, 9),
            (65535, 16),
            (65536, 17),
            (1 << 32, 33),
        ];
        for (n, b) in cases {
            assert_eq!(ipv4_bucket(n), b, "{n}");
        }
    }
}
