//! The checks of one address (a range target, or an MX address of a scanned domain): reverse DNS
//! with forward confirmation, DNSBL listings, origin AS. All DNS goes through the shared cache.

use crate::checks::problem::{Code, problem};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::targets::ips::{Family, host_mask};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::checks::asn::{self, AsnDb, AsnFindings};
use crate::checks::dnsbl::Listings;
use crate::checks::dnsbl::{self, DnsStatus, Verdict, ZoneConfig, ZoneKind};
use crate::checks::rdns::ReverseFindings;
use crate::checks::rpki::{self, Route, RouteValidity};
use crate::checks::{Lookup, rdns};
use crate::dns::{Answer, RecordType, Resolver, Status, reverse_name};
use crate::output::HostRow;
use crate::output::status::HostStatus;
use crate::rpki::VrpFile;
use crate::targets::exclude::ExcludeList;

pub use crate::checks::rdns::MAX_PTR_NAMES;

/// What the hosts stage checks, and how politely.
#[derive(Clone)]
pub struct HostOptions {
    /// DNSBL zones to query (none by default: public lists refuse bulk queries through public
    /// resolvers, so choosing them is the user's call).
    pub dnsbl: Vec<ZoneConfig>,
    /// Offline IP-to-AS table; `None` leaves the ASN columns null.
    pub asn: Option<Arc<AsnDb>>,
    /// Never-scan list: an excluded address keeps its row, with `host_status` skipped.
    pub exclude: Arc<ExcludeList>,
    /// Origin AS over DNS (Team Cymru's interface) for addresses the table does not know;
    /// `None` by default.
    pub asn_dns: Option<AsnDnsZones>,
    /// VRPs to judge each host's route and origin AS against (`--rpki-vrps`); `None` leaves
    /// `rpki_status` null.
    pub rpki: Option<Arc<VrpFile>>,
}

/// The zones of a Team Cymru style IP-to-ASN DNS service.
#[derive(Debug, Clone)]
pub struct AsnDnsZones {
    pub origin_v4: String,
    pub origin_v6: String,
    /// Where `AS<n>` TXT records give the AS names; `None` leaves asn_name null.
    pub as_names: Option<String>,
}

impl Default for AsnDnsZones {
    fn default() -> Self {
        AsnDnsZones {
            origin_v4: asn::CYMRU_ORIGIN_V4.into(),
            origin_v6: asn::CYMRU_ORIGIN_V6.into(),
            as_names: Some(asn::CYMRU_AS_ZONE.into()),
        }
    }
}

/// What the ASN columns hold for one address.
#[derive(Debug, Clone, PartialEq)]
struct AsnHit {
    asn: u32,
    range: String,
    /// The announced prefix the service named.
    route: ipnet::IpNet,
    country: String,
    name: Option<String>,
}

/// Prefixes already answered by the DNS service, so the other addresses of a prefix cost no
/// query ("cached per prefix": a /16 sweep asks about each announced prefix about once). The
/// most specific cached prefix holding an address answers; an address inside a more specific
/// announcement not seen yet gets the covering prefix's AS, the price of not asking per address.
#[derive(Default)]
struct PrefixCache {
    /// (start, length) -> (end, hit), per family: for one start the longer prefix sorts later.
    v4: PrefixMap,
    v6: PrefixMap,
}

type PrefixMap = std::collections::BTreeMap<(u128, u8), (u128, Arc<AsnHit>)>;

/// Cached prefixes looked at before a miss is declared (nested announcements are rarely deep).
const PREFIX_WALK: usize = 16;

/// Prefixes kept at most; past it the cache starts over (the routing table has ~1.2 M).
const PREFIX_CACHE_MAX: usize = 2_000_000;

impl PrefixCache {
    fn map(&mut self, ip: IpAddr) -> (&mut PrefixMap, u128) {
        match ip {
            IpAddr::V4(a) => (&mut self.v4, u32::from(a).into()),
            IpAddr::V6(a) => (&mut self.v6, u128::from(a)),
        }
    }

    fn get(&mut self, ip: IpAddr) -> Option<Arc<AsnHit>> {
        let (m, x) = self.map(ip);
        // Walking down from the greatest start <= x, the first prefix holding x is the most
        // specific one cached.
        m.range(..=(x, u8::MAX))
            .rev()
            .take(PREFIX_WALK)
            .find(|(_, (end, _))| x <= *end)
            .map(|(_, (_, h))| h.clone())
    }

    fn insert(&mut self, prefix: IpAddr, len: u8, hit: Arc<AsnHit>) {
        if self.v4.len() + self.v6.len() >= PREFIX_CACHE_MAX {
            *self = PrefixCache::default();
        }
        let family = Family::of(prefix);
        let len = u32::from(len).min(family.bits());
        let (m, start) = self.map(prefix);
        let span = host_mask(family, len).unwrap_or(0);
        m.insert((start, len as u8), (start.saturating_add(span), hit));
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            dnsbl: Vec::new(),
            asn: None,
            exclude: Arc::new(ExcludeList::defaults(false)),
            asn_dns: None,
            rpki: None,
        }
    }
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field(
                "dnsbl",
                &self
                    .dnsbl
                    .iter()
                    .map(|z| z.zone.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("asn", &self.asn.is_some())
            .field("rpki_vrps", &self.rpki.as_ref().map(|f| f.set.len()))
            .field("exclude_entries", &self.exclude.len())
            .finish()
    }
}

/// Runs the host checks; one per scan, shared by every task (it holds the per-zone limiters).
pub struct HostChecker {
    opts: HostOptions,
    zone_rate: Vec<DefaultDirectRateLimiter>,
    prefixes: parking_lot::Mutex<PrefixCache>,
}

impl HostChecker {
    pub fn new(opts: HostOptions) -> HostChecker {
        let zone_rate = opts
            .dnsbl
            .iter()
            .map(|z| {
                // Fractional rates (0.5 qps) become one query per 1/rate seconds.
                let per_second = z.rate_qps.max(0.001);
                let quota = if per_second >= 1.0 {
                    Quota::per_second(NonZeroU32::new(per_second as u32).unwrap_or(NonZeroU32::MIN))
                } else {
                    Quota::with_period(std::time::Duration::from_secs_f64(1.0 / per_second))
                        .expect("positive period")
                };
                RateLimiter::direct(quota)
            })
            .collect();
        HostChecker {
            opts,
            zone_rate,
            prefixes: parking_lot::Mutex::default(),
        }
    }

    /// The address is on the never-scan list.
    pub fn excluded(&self, ip: IpAddr) -> bool {
        self.opts.exclude.is_excluded_ip(ip).is_some()
    }

    pub fn zones(&self) -> impl Iterator<Item = &str> {
        self.opts.dnsbl.iter().map(|z| z.zone.as_str())
    }

    /// Some zone lists domains (RHSBL).
    pub fn has_domain_zones(&self) -> bool {
        self.opts.dnsbl.iter().any(|z| z.kind == ZoneKind::Domain)
    }

    /// The row of one address. Never fails: problems are statuses and error lists.
    pub async fn check(&self, res: &Resolver, ip: IpAddr, now_ms: impl Fn() -> i64) -> HostRow {
        if let Some(reason) = self.opts.exclude.is_excluded_ip(ip) {
            return HostRow::skipped(ip, format!("excluded: {}", reason.text), now_ms());
        }
        let (mut reverse, dnsbl) = tokio::join!(self.reverse(res, ip), self.dnsbl(res, ip));
        let (mut asn, mut route) = (None, None);
        if let Some(db) = &self.opts.asn
            && let Some(info) = db.lookup(ip)
        {
            asn = Some(AsnFindings::from_table(&info));
            route =
                rpki::range_route_prefix(info.prefix_start, info.prefix_end, ip).map(|prefix| {
                    Route {
                        prefix,
                        origin: info.asn,
                    }
                });
        } else if let Some(zones) = &self.opts.asn_dns {
            match self.asn_over_dns(res, ip, zones).await {
                Ok(Some(hit)) => {
                    asn = Some(AsnFindings {
                        asn: hit.asn,
                        range: hit.range.clone(),
                        country: (!hit.country.is_empty()).then(|| hit.country.clone()),
                        name: hit.name.clone(),
                    });
                    route = Some(Route {
                        prefix: hit.route,
                        origin: hit.asn,
                    });
                }
                Ok(None) => {}
                Err(e) => reverse.errors.push(problem(Code::AsnLookup, e)),
            }
        }
        let mut row = HostRow::checked(ip, reverse, dnsbl, asn);
        row.rpki = self.route_validity(route);
        row.scanned_at = now_ms();
        row
    }

    /// RFC 6811 validation of the host's route against `--rpki-vrps`. A prefix announced by
    /// several ASes (MOAS) is judged for the origin the `asn` column shows, the route the row
    /// describes.
    fn route_validity(&self, route: Option<Route>) -> Option<RouteValidity> {
        Some(self.opts.rpki.as_ref()?.set.validate(route?))
    }

    /// PTR and forward confirmation (FCrDNS), judged by [`rdns`].
    async fn reverse(&self, res: &Resolver, ip: IpAddr) -> ReverseFindings {
        let ptr = res.lookup(&reverse_name(ip), RecordType::PTR).await;
        let mut r = ReverseFindings::new(ptr.status);
        let Some((names, errors)) = rdns::ptr_names(&Lookup::from_answer(&ptr, Answer::ptrs))
        else {
            r.errors.push(problem(
                Code::Dns(ptr.status),
                format_args!("PTR {}", ptr.describe()),
            ));
            return r;
        };
        r.errors.extend(errors);
        let rtype = if ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::AAAA
        };
        let forwards =
            futures::future::join_all(names.iter().take(MAX_PTR_NAMES).map(|n| async move {
                let a = res.lookup(n, rtype).await;
                (n.clone(), Lookup::from_answer(&a, |a| a.ips().collect()))
            }))
            .await;
        r.ptr = Some(names);
        let (fcrdns, errors) = rdns::fcrdns(ip, &forwards);
        r.fcrdns = fcrdns;
        r.errors.extend(errors);
        r
    }

    /// Origin AS from the DNS service, through the per-prefix cache.
    async fn asn_over_dns(
        &self,
        res: &Resolver,
        ip: IpAddr,
        zones: &AsnDnsZones,
    ) -> Result<Option<Arc<AsnHit>>, String> {
        if let Some(hit) = self.prefixes.lock().get(ip) {
            return Ok(Some(hit));
        }
        let name = asn::cymru_origin_name(ip, &zones.origin_v4, &zones.origin_v6);
        let a = res.lookup(&name, RecordType::TXT).await;
        if a.status.is_failure() {
            return Err(format!("{name} TXT {}", a.describe()));
        }
        // No TXT: the address is not routed.
        let Some(text) = a.txt_joined().next() else {
            return Ok(None);
        };
        let origin = asn::parse_cymru_origin(&text).map_err(|e| format!("{name}: {e}"))?;
        let asn = origin.asns[0];
        let as_name = match &zones.as_names {
            Some(zone) => {
                let a = res
                    .lookup(&asn::cymru_as_name(asn, zone), RecordType::TXT)
                    .await;
                a.txt_joined()
                    .next()
                    .and_then(|t| asn::parse_cymru_as(&t).ok())
                    .map(|x| x.name)
            }
            None => None,
        };
        let hit = Arc::new(AsnHit {
            asn,
            range: format!("{}/{}", origin.prefix, origin.prefix_len),
            route: ipnet::IpNet::new(origin.prefix, origin.prefix_len)
                .map_err(|e| format!("{name}: {e}"))?
                .trunc(),
            country: origin.country.clone(),
            name: as_name,
        });
        self.prefixes
            .lock()
            .insert(origin.prefix, origin.prefix_len, hit.clone());
        Ok(Some(hit))
    }

    /// The address against every IP zone.
    async fn dnsbl(&self, res: &Resolver, ip: IpAddr) -> Listings {
        let queries = self
            .opts
            .dnsbl
            .iter()
            .zip(&self.zone_rate)
            .filter(|(z, _)| z.accepts_ip(ip))
            .map(|(z, rate)| (z, rate, Ok(dnsbl::dnsbl_query_name(ip, &z.zone))));
        self.query_zones(res, queries).await
    }

    /// A domain against every domain zone (RHSBL), for the domains table.
    pub async fn rhsbl(&self, res: &Resolver, domain: &str) -> Listings {
        let queries = self
            .opts
            .dnsbl
            .iter()
            .zip(&self.zone_rate)
            .filter(|(z, _)| z.kind == ZoneKind::Domain)
            .map(|(z, rate)| {
                let name = dnsbl::rhsbl_query_name(domain, &z.zone).map_err(|e| e.to_string());
                (z, rate, name)
            });
        self.query_zones(res, queries).await
    }

    async fn query_zones<'a>(
        &'a self,
        res: &Resolver,
        queries: impl Iterator<
            Item = (
                &'a ZoneConfig,
                &'a DefaultDirectRateLimiter,
                Result<String, String>,
            ),
        >,
    ) -> Listings {
        let checks = queries.map(|(z, rate, name)| async move {
            let name = match name {
                Ok(n) => n,
                Err(e) => {
                    let v = Verdict::Error {
                        kind: dnsbl::ErrorKind::DnsFailure,
                        reason: format!("no query name: {e}"),
                    };
                    return (z, v, None);
                }
            };
            rate.until_ready().await;
            let a = res.lookup(&name, RecordType::A).await;
            let verdict = dnsbl::interpret(z, &dns_status(&a), &a.v4());
            // The reason text is fetched only for a real listing (RFC 5782 2.1).
            let txt = if verdict.wants_txt() {
                Some(res.lookup(&name, RecordType::TXT).await)
            } else {
                None
            };
            (z, verdict, txt)
        });
        let mut out = Listings::default();
        for (z, verdict, txt) in futures::future::join_all(checks).await {
            match verdict {
                Verdict::Listed { codes, meanings } => {
                    out.listed.push(z.zone.clone());
                    let c: Vec<String> = codes.iter().map(|x| x.to_string()).collect();
                    out.codes.push(format!(
                        "{}: {} ({})",
                        z.zone,
                        c.join(","),
                        meanings.join("; ")
                    ));
                    if let Some(t) = txt {
                        for text in t.txt_joined() {
                            out.reasons.push(format!("{}: {text}", z.zone));
                        }
                    }
                }
                Verdict::NotListed => {}
                Verdict::Error { reason, .. } => out.errors.push(format!("{}: {reason}", z.zone)),
            }
        }
        out
    }
}

fn dns_status(a: &Answer) -> DnsStatus {
    match a.status {
        Status::Ok => DnsStatus::Ok,
        Status::NoData => DnsStatus::NoData,
        Status::NxDomain => DnsStatus::NxDomain,
        _ => DnsStatus::Failure(a.describe()),
    }
}

/// The host stage's probe: the checks of one address, through the shared cache.
pub struct HostProbe {
    pub resolver: Resolver,
    pub checker: Arc<HostChecker>,
    pub concurrency: usize,
}

impl crate::pipeline::stage::Probe for HostProbe {
    type Target = IpAddr;
    type Output = HostRow;

    fn name(&self) -> &'static str {
        "hosts"
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// PTR, then the forward lookups of its names (the DNSBL A and TXT queries run beside
    /// them): two DNS query deadlines; with `--asn-dns`, the origin and the AS name after them.
    fn worst_case(&self) -> std::time::Duration {
        let q = self.resolver.engine().options().query_deadline();
        let rounds = if self.checker.opts.asn_dns.is_some() {
            4
        } else {
            2
        };
        q * rounds + std::time::Duration::from_secs(1)
    }

    async fn admit(&self) {
        crate::pipeline::stage::dns_room(&self.resolver).await
    }

    async fn probe(&self, ip: IpAddr) -> HostRow {
        self.checker
            .check(&self.resolver, ip, crate::pipeline::now_ms)
            .await
    }

    fn failed(&self, ip: &IpAddr, why: &str) -> HostRow {
        HostRow::failed(*ip, why, crate::pipeline::now_ms())
    }
}

// One constructor per way a host row comes into being.
impl HostRow {
    /// A checked host.
    fn checked(
        ip: IpAddr,
        reverse: ReverseFindings,
        dnsbl: Listings,
        asn: Option<AsnFindings>,
    ) -> HostRow {
        HostRow {
            reverse: Some(reverse),
            dnsbl: Some(dnsbl),
            asn,
            ..HostRow::unchecked(ip, HostStatus::Ok, 0)
        }
    }

    /// An excluded host: no check was made.
    pub fn skipped(ip: IpAddr, reason: String, now_ms: i64) -> HostRow {
        HostRow {
            skip_reason: Some(reason),
            ..HostRow::unchecked(ip, HostStatus::Skipped, now_ms)
        }
    }

    /// A host whose probe failed itself (a panic).
    pub fn failed(ip: IpAddr, why: &str, now_ms: i64) -> HostRow {
        HostRow {
            host_error: Some(why.to_string()),
            ..HostRow::unchecked(ip, HostStatus::Error, now_ms)
        }
    }

    /// A host no check was made for: every check's part absent.
    fn unchecked(ip: IpAddr, host_status: HostStatus, now_ms: i64) -> HostRow {
        HostRow {
            ip: ip.to_string(),
            scanned_at: now_ms,
            host_status,
            skip_reason: None,
            reverse: None,
            dnsbl: None,
            asn: None,
            host_error: None,
            smtp: None,
            rpki: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(asn: u32) -> Arc<AsnHit> {
        Arc::new(AsnHit {
            asn,
            range: String::new(),
            route: "0.0.0.0/0".parse().unwrap(),
            country: String::new(),
            name: None,
        })
    }

    #[test]
    fn prefix_cache_answers_every_address_of_a_prefix_and_nothing_else() {
        let mut c = PrefixCache::default();
        c.insert("192.0.2.0".parse().unwrap(), 24, hit(1));
        c.insert("198.51.100.128".parse().unwrap(), 25, hit(2));
        c.insert("2001:db8::".parse().unwrap(), 32, hit(3));
        let asn = |c: &mut PrefixCache, ip: &str| c.get(ip.parse().unwrap()).map(|h| h.asn);
        assert_eq!(asn(&mut c, "192.0.2.0"), Some(1));
        assert_eq!(asn(&mut c, "192.0.2.255"), Some(1));
        assert_eq!(asn(&mut c, "192.0.3.0"), None);
        assert_eq!(asn(&mut c, "198.51.100.127"), None);
        assert_eq!(asn(&mut c, "198.51.100.200"), Some(2));
        assert_eq!(asn(&mut c, "2001:db8:ffff::1"), Some(3));
        assert_eq!(asn(&mut c, "2001:db9::1"), None);
        // The families do not mix: ::c000:200 is not 192.0.2.0.
        assert_eq!(asn(&mut c, "::c000:200"), None);
        // Nested announcements: the most specific cached prefix answers.
        c.insert("192.0.0.0".parse().unwrap(), 8, hit(4));
        assert_eq!(asn(&mut c, "192.0.2.7"), Some(1));
        assert_eq!(asn(&mut c, "192.200.0.1"), Some(4));
        c.insert("192.0.2.0".parse().unwrap(), 23, hit(5));
        assert_eq!(
            asn(&mut c, "192.0.2.7"),
            Some(1),
            "the /24 beats a /23 at the same start"
        );
        c.insert("0.0.0.0".parse().unwrap(), 0, hit(6));
        assert_eq!(asn(&mut c, "203.0.113.9"), Some(6));
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;
    use crate::columns::Row;
    use crate::dns::{CacheOptions, MockDns, Rdata, Status};

    async fn check(dns: MockDns, ip: &str) -> (HostRow, Vec<(String, RecordType)>) {
        let dns = Arc::new(dns);
        let res = Resolver::with_dns(dns.clone(), CacheOptions::default());
        // 127.0.0.5: the documentation ranges are on the never-scan list, loopback is allowed.
        let checker = HostChecker::new(HostOptions {
            exclude: Arc::new(ExcludeList::defaults(true)),
            ..HostOptions::default()
        });
        let row = checker.check(&res, ip.parse().unwrap(), || 0).await;
        (row, dns.asked())
    }

    #[test]
    fn a_host_not_checked_counts_under_its_own_status() {
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let reverse = ReverseFindings::new(Status::Timeout);
        let checked = HostRow::checked(ip, reverse, Listings::default(), None);
        let skipped = HostRow {
            // What the SMTP stage makes of an excluded address.
            smtp: Some(crate::checks::smtp::SmtpFindings::skipped(25)),
            ..HostRow::skipped(ip, "excluded: test".into(), 0)
        };
        let failed = HostRow::failed(ip, "panicked: x", 0);
        let stats = crate::pipeline::ScanStats::default();
        for h in [checked, skipped, failed] {
            stats.record_host(&h);
        }
        let m = stats.by_status();
        let counts = |col| -> Vec<(&str, u64)> { m[col].iter().map(|(k, v)| (*k, *v)).collect() };
        assert_eq!(
            counts("ptr_status"),
            [("error", 1), ("skipped", 1), ("timeout", 1)]
        );
        // The checked host has no SMTP findings (no --smtp): not counted; the failed one
        // counts under its own status, so the column's counts add up to the hosts not checked.
        assert_eq!(counts("smtp_status"), [("error", 1), ("skipped", 1)]);
        assert_eq!(m["host_status"].values().sum::<u64>(), 3);
    }

    #[tokio::test]
    async fn reverse_dns_paths() {
        let ptr = |name: &str| vec![Rdata::Ptr(name.into())];
        // Confirmed: PTR then one forward query.
        let dns = MockDns::new()
            .records("5.0.0.127.in-addr.arpa", RecordType::PTR, ptr("mx.example"))
            .addr("mx.example", "127.0.0.5".parse().unwrap());
        let (row, asked) = check(dns, "127.0.0.5").await;
        assert_eq!(
            (row.status("ptr_status"), row.fcrdns()),
            (Some("ok"), Some(true))
        );
        assert_eq!(
            row.ptr().map(<[String]>::to_vec),
            Some(vec!["mx.example".into()])
        );
        assert_eq!(asked.len(), 2);
        // No PTR: false, nothing else asked.
        let (row, asked) = check(MockDns::new(), "127.0.0.5").await;
        assert_eq!(
            (row.status("ptr_status"), row.fcrdns()),
            (Some("nxdomain"), Some(false))
        );
        assert_eq!(
            (row.ptr().map(<[String]>::to_vec), asked.len()),
            (Some(vec![]), 1)
        );
        // PTR failed: unknown, with the status and an error.
        let dns = MockDns::new().fail("5.0.0.127.in-addr.arpa", RecordType::PTR, Status::Timeout);
        let (row, _) = check(dns, "127.0.0.5").await;
        assert_eq!(
            (
                row.status("ptr_status"),
                row.fcrdns(),
                row.ptr().map(<[String]>::to_vec)
            ),
            (Some("timeout"), None, None)
        );
        assert_eq!(
            row.reverse.unwrap().errors,
            ["dns-timeout: PTR timeout: mock failure"]
        );
        // The forward lookup failed: unknown, not false.
        let dns = MockDns::new()
            .records("5.0.0.127.in-addr.arpa", RecordType::PTR, ptr("mx.example"))
            .fail("mx.example", RecordType::A, Status::ServFail);
        let (row, _) = check(dns, "127.0.0.5").await;
        assert_eq!((row.status("ptr_status"), row.fcrdns()), (Some("ok"), None));
        assert_eq!(
            row.reverse.unwrap().errors,
            ["forward-lookup: mx.example: servfail: mock failure"]
        );
    }
}
