//! RPKI route origin validation (RFC 6811): a route (prefix, origin AS) judged against a set of
//! Validated ROA Payloads (VRPs) as Routinator, rpki-client and Fort export them ([`vrps`] reads
//! their files). Offline: the set is loaded once, before any query, and judging a route is a walk
//! down a prefix trie.
//!
//! RFC 6811 2:
//! ```text
//! Covered: A Route Prefix is said to be Covered by a VRP when the VRP prefix length is less
//!   than or equal to the Route prefix length, and the VRP prefix address and the Route prefix
//!   address are identical for all bits specified by the VRP prefix length.
//! Matched: A Route Prefix is said to be Matched by a VRP when the Route Prefix is Covered by
//!   that VRP, the Route prefix length is less than or equal to the VRP maximum length, and the
//!   Route Origin ASN is equal to the VRP ASN.
//! NotFound: No VRP Covers the Route Prefix.
//! Valid: At least one VRP Matches the Route Prefix.
//! Invalid: At least one VRP Covers the Route Prefix, but no VRP Matches it.
//! ```
//! and "a VRP ASN of zero [...] cannot be Matched by any route": AS 0 is never an origin (RFC 7607).

pub mod vrps;

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use smallvec::SmallVec;

use crate::columns::Column;
use crate::targets::ips::{host_mask, ip_value};

/// The validation state of a route, RFC 6811 2's three words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteValidity {
    Valid,
    Invalid,
    NotFound,
}

impl RouteValidity {
    /// Every state, in the order the report shows them.
    pub const ALL: [RouteValidity; 3] = [
        RouteValidity::Valid,
        RouteValidity::Invalid,
        RouteValidity::NotFound,
    ];

    /// The `rpki_status` text.
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteValidity::Valid => "valid",
            RouteValidity::Invalid => "invalid",
            RouteValidity::NotFound => "not-found",
        }
    }

    /// The hosts row's RPKI columns; a host without a known route (no origin AS) or a scan
    /// without `--rpki-vrps` has them null.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<RouteValidity>> {
        vec![
            Column::status("rpki_status", |v: &RouteValidity| Some(v.as_str()))
                .doc("with `--rpki-vrps`: route origin validation (RFC 6811 2) of the address's route and origin AS (the `asn` columns) against the VRP set: `valid` (a VRP covering the route has its origin AS and a max length >= the route's length), `invalid` (covered, but no VRP matches; an AS 0 VRP never matches), `not-found` (no VRP covers the route). The route is the announced prefix from `--asn-dns`, or the CIDR block of the `--asn-db` range that holds the address (such tables merge neighbouring announcements of one AS, so a more specific announcement reads as its covering block); null without `--rpki-vrps` or without a known origin AS"),
        ]
    }
}

impl fmt::Display for RouteValidity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route as BGP announces it: a prefix and the AS that originates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub prefix: IpNet,
    pub origin: u32,
}

/// One Validated ROA Payload: a prefix, the longest prefix length it authorises, and the AS it
/// authorises to originate it (RFC 6811 2; RFC 9582 for the ROA it comes from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vrp {
    pub prefix: IpNet,
    pub max_length: u8,
    pub asn: u32,
}

/// What one trie node holds: the VRPs of one prefix, as (max length, AS); inline, as nearly every
/// prefix has one.
type Payloads = SmallVec<[(u8, u32); 1]>;

/// A VRP set, ready to judge routes. One trie per family: prefix-trie's `cover` yields every
/// VRP prefix covering a route, which RFC 6811 needs (a less specific VRP can match where a more
/// specific one only covers), not only the longest match an IP lookup wants; it is keyed by
/// `ipnet`'s types, which parse the exports' prefixes.
///
/// Measured on a synthetic set of the full RPKI's size (800,000 VRPs, 3/4 IPv4, release build):
/// the set holds about 91 MB; the JSON export (61 MB) parses in 1.2 s, the CSV (23 MB) in 0.6 s;
/// a million routes are judged in 0.5 s.
#[derive(Debug, Clone, Default)]
pub struct VrpSet {
    v4: PrefixMap<Ipv4Net, Payloads>,
    v6: PrefixMap<Ipv6Net, Payloads>,
    len: usize,
}

impl VrpSet {
    /// Adds a VRP; a repeat of one already held counts once (the exports list a VRP once per
    /// ROA and trust anchor it came from).
    pub fn insert(&mut self, vrp: Vrp) {
        let payloads = match vrp.prefix.trunc() {
            IpNet::V4(p) => self.v4.entry(p).or_default(),
            IpNet::V6(p) => self.v6.entry(p).or_default(),
        };
        let payload = (vrp.max_length, vrp.asn);
        if !payloads.contains(&payload) {
            payloads.push(payload);
            self.len += 1;
        }
    }

    /// Distinct VRPs held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// RFC 6811 2's procedure for `route`.
    pub fn validate(&self, route: Route) -> RouteValidity {
        let len = route.prefix.prefix_len();
        let judge = |covering: &mut dyn Iterator<Item = &Payloads>| {
            let mut covered = false;
            for payloads in covering {
                covered = true;
                let matched = payloads
                    .iter()
                    .any(|&(max, asn)| asn != 0 && asn == route.origin && len <= max);
                if matched {
                    return RouteValidity::Valid;
                }
            }
            if covered {
                RouteValidity::Invalid
            } else {
                RouteValidity::NotFound
            }
        };
        match route.prefix.trunc() {
            IpNet::V4(p) => judge(&mut self.v4.cover(&p).map(|(_, v)| v)),
            IpNet::V6(p) => judge(&mut self.v6.cover(&p).map(|(_, v)| v)),
        }
    }
}

impl FromIterator<Vrp> for VrpSet {
    fn from_iter<I: IntoIterator<Item = Vrp>>(iter: I) -> Self {
        let mut set = VrpSet::default();
        for vrp in iter {
            set.insert(vrp);
        }
        set
    }
}

/// The route of `ip` from a range table entry (`first`-`last`, both of `ip`'s family, holding
/// it): the largest CIDR block inside the range that holds `ip`. Tables such as iptoasn's merge
/// the neighbouring announcements of one AS into a range, so the announcement itself is not
/// known; its block within the range is the closest route that is. None when the range does not
/// hold `ip` or mixes families.
pub fn range_route_prefix(first: IpAddr, last: IpAddr, ip: IpAddr) -> Option<IpNet> {
    let ((family, first), (last_family, last), (ip_family, x)) =
        (ip_value(first), ip_value(last), ip_value(ip));
    if family != last_family || family != ip_family || !(first <= x && x <= last) {
        return None;
    }
    // From the shortest length down: the first block of `x` inside the range is the largest.
    (0..=family.bits()).find_map(|len| {
        let host = host_mask(family, len)?;
        let start = x & !host;
        if first <= start && (start | host) <= last {
            IpNet::new(ip, len as u8).ok().map(|n| n.trunc())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn vrp(prefix: &str, max_length: u8, asn: u32) -> Vrp {
        Vrp {
            prefix: net(prefix),
            max_length,
            asn,
        }
    }

    fn route(prefix: &str, origin: u32) -> Route {
        Route {
            prefix: net(prefix),
            origin,
        }
    }

    use RouteValidity::*;

    /// RFC 6811 2's definitions, one case each, over one VRP set (the RFC's own examples use
    /// prose; these put its words on documentation prefixes, RFC 5737 and 3849).
    #[test]
    fn rfc6811_section2_table() {
        let set: VrpSet = [
            vrp("192.0.2.0/24", 24, 64496),
            // A less specific VRP with a max length that reaches further than the more specific.
            vrp("198.51.100.0/22", 24, 64497),
            vrp("198.51.100.0/24", 24, 64498),
            // AS 0: the prefix may not be originated by anyone (RFC 6483 4, RFC 7607).
            vrp("203.0.113.0/24", 32, 0),
            vrp("2001:db8::/32", 48, 64499),
            vrp("2001:db8:ffff::/48", 48, 0),
        ]
        .into_iter()
        .collect();
        for (r, want, why) in [
            (route("192.0.2.0/24", 64496), Valid, "exact prefix, its AS"),
            (route("192.0.2.0/24", 64511), Invalid, "covered, another AS"),
            (
                route("192.0.2.128/25", 64496),
                Invalid,
                "longer than max length",
            ),
            (
                route("192.0.0.0/16", 64496),
                NotFound,
                "less specific than the VRP: not covered",
            ),
            (route("192.0.3.0/24", 64496), NotFound, "no VRP covers it"),
            (
                route("198.51.100.0/24", 64497),
                Valid,
                "the /22's max length reaches /24",
            ),
            (route("198.51.100.0/24", 64498), Valid, "the /24 itself"),
            (
                route("198.51.101.0/24", 64498),
                Invalid,
                "only the /22 covers it, for 64497",
            ),
            (
                route("198.51.100.0/23", 64497),
                Valid,
                "inside the /22 with room",
            ),
            (
                route("198.51.100.0/25", 64497),
                Invalid,
                "past every max length",
            ),
            (
                route("203.0.113.0/24", 0),
                Invalid,
                "an AS 0 VRP never matches, even AS 0",
            ),
            (
                route("203.0.113.0/28", 64500),
                Invalid,
                "AS 0 covers: invalid for every AS",
            ),
            (
                route("2001:db8:1::/48", 64499),
                Valid,
                "IPv6 within max length",
            ),
            (
                route("2001:db8:1::/64", 64499),
                Invalid,
                "IPv6 too specific",
            ),
            (
                route("2001:db8:ffff::/48", 64499),
                Valid,
                "the /32 matches beside the AS 0 /48",
            ),
            (route("2001:db9::/32", 64499), NotFound, "IPv6 uncovered"),
        ] {
            assert_eq!(set.validate(r), want, "{r:?}: {why}");
        }
    }

    /// RFC 6811 2's words read literally, over every VRP: what the trie walk must agree with.
    fn naive(vrps: &[Vrp], r: Route) -> RouteValidity {
        let covers = |v: &Vrp| {
            v.prefix.prefix_len() <= r.prefix.prefix_len() && v.prefix.contains(&r.prefix)
        };
        let matches = |v: &Vrp| {
            covers(v) && r.prefix.prefix_len() <= v.max_length && v.asn != 0 && v.asn == r.origin
        };
        if vrps.iter().any(matches) {
            Valid
        } else if vrps.iter().any(covers) {
            Invalid
        } else {
            NotFound
        }
    }

    /// Random VRPs and routes crowded into 10.0.0.0/12 (so they nest and overlap), each route
    /// judged by the trie and by the literal definition; every state is met.
    #[test]
    fn the_trie_agrees_with_the_definition_on_random_sets() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(6811);
        let random_net = |rng: &mut StdRng, min: u8, max: u8| {
            let len = rng.random_range(min..=max);
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (rng.random::<u32>() & 0x000f_ffff));
            IpNet::new(addr.into(), len).unwrap().trunc()
        };
        let mut met = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let vrps: Vec<Vrp> = (0..rng.random_range(1..60))
                .map(|_| {
                    let prefix = random_net(&mut rng, 12, 22);
                    Vrp {
                        prefix,
                        max_length: rng.random_range(prefix.prefix_len()..=26),
                        asn: rng.random_range(0..4),
                    }
                })
                .collect();
            let set: VrpSet = vrps.iter().copied().collect();
            for _ in 0..500 {
                let r = Route {
                    prefix: random_net(&mut rng, 10, 28),
                    origin: rng.random_range(0..4),
                };
                let want = naive(&vrps, r);
                assert_eq!(set.validate(r), want, "{r:?} against {vrps:?}");
                met.insert(want);
            }
        }
        assert_eq!(met.len(), 3, "{met:?}");
    }

    #[test]
    fn an_empty_set_finds_nothing() {
        let set = VrpSet::default();
        assert_eq!(set.validate(route("192.0.2.0/24", 1)), NotFound);
        assert!(set.is_empty());
    }

    #[test]
    fn repeated_vrps_count_once_and_host_bits_are_dropped() {
        let set: VrpSet = [
            vrp("192.0.2.0/24", 24, 64496),
            vrp("192.0.2.0/24", 24, 64496),
            vrp("192.0.2.7/24", 24, 64496),
            vrp("192.0.2.0/24", 25, 64496),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
        assert_eq!(set.validate(route("192.0.2.0/25", 64496)), Valid);
    }

    #[test]
    fn route_prefix_of_a_range() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (first, last, addr, want) in [
            (
                "127.77.0.0",
                "127.77.255.255",
                "127.77.3.1",
                Some("127.77.0.0/16"),
            ),
            (
                "127.100.0.0",
                "127.254.255.255",
                "127.100.1.9",
                Some("127.100.0.0/14"),
            ),
            (
                "127.100.0.0",
                "127.254.255.255",
                "127.112.0.1",
                Some("127.112.0.0/12"),
            ),
            (
                "127.100.0.0",
                "127.254.255.255",
                "127.254.9.9",
                Some("127.254.0.0/16"),
            ),
            ("10.0.0.5", "10.0.0.5", "10.0.0.5", Some("10.0.0.5/32")),
            ("0.0.0.0", "255.255.255.255", "8.8.8.8", Some("0.0.0.0/0")),
            (
                "2001:db8::",
                "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
                "2001:db8::1",
                Some("2001:db8::/48"),
            ),
            (
                "::",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "::1",
                Some("::/0"),
            ),
            ("10.0.0.0", "10.0.0.255", "10.0.1.1", None),
            ("10.0.0.0", "10.0.0.255", "::1", None),
        ] {
            assert_eq!(
                range_route_prefix(ip(first), ip(last), ip(addr)),
                want.map(net),
                "{first}-{last} {addr}"
            );
        }
    }
}
