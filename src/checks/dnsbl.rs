//! DNS blocklists (DNSBL for addresses, RHSBL for domains): zone configs, query names and what an
//! answer means. Pure: the pipeline does the DNS queries.
//!
//! RFC 5782 2.3 puts listing codes in 127.0.0.0/8. An A answer outside it is not a listing but a
//! resolver that rewrites NXDOMAIN (or a wildcard), and codes the zone does not document are not
//! listings either: only a code the zone config names as a listing counts. Operators also answer
//! with codes meaning "we refuse you" (e.g. Spamhaus's 127.255.255.254 for queries through public
//! resolvers); counting those as listings is the classic way to mark the whole internet listed.

use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;
use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// What a zone lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// Addresses, IPv4 and IPv6.
    Ip,
    /// IPv4 addresses only (IPv6 queries are not sent).
    Ipv4,
    /// Domains (RHSBL / URI blocklists).
    Domain,
}

impl ZoneKind {
    fn parse(s: &str) -> Option<ZoneKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ip" => Some(ZoneKind::Ip),
            "ipv4" => Some(ZoneKind::Ipv4),
            "domain" => Some(ZoneKind::Domain),
            _ => None,
        }
    }
}

/// Which A answers a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    /// `start..=end` (IPv4 as numbers).
    Range { start: u32, end: u32 },
    /// Bitmask zones answer 127.0.0.X with one bit of X per list: matches when X has one of
    /// these bits and no bit outside the zone's declared masks.
    Bits(u8),
}

/// One documented return code (or code range) and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRule {
    pub matcher: CodeMatch,
    pub meaning: String,
}

/// One blocklist zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneConfig {
    /// Lowercase, no trailing dot.
    pub zone: String,
    pub kind: ZoneKind,
    pub listing: Vec<CodeRule>,
    /// Codes the operator uses for refusals and errors; they take precedence over listings.
    pub errors: Vec<CodeRule>,
    /// Polite query rate for this zone, queries per second.
    pub rate_qps: f64,
    pub description: String,
    /// Where the codes are documented.
    pub reference: String,
}

/// Rate used when a row leaves `rate_qps` empty.
pub const DEFAULT_RATE_QPS: f64 = 10.0;

/// The config's columns. `zone`, `kind` and `listing_codes` are required; order is free.
pub const COLUMNS: &[&str] = &[
    "zone",
    "kind",
    "listing_codes",
    "error_codes",
    "rate_qps",
    "description",
    "reference",
];

/// Failure to load a zone config. The file is small and hand-written, so the first bad row fails
/// it: a half-read code list would misread answers.
#[derive(Debug)]
pub enum DnsblConfigError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// `line` is 1-based in the file.
    Line {
        line: u64,
        reason: String,
    },
}

impl fmt::Display for DnsblConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsblConfigError::Io { path, source } => {
                write!(f, "reading DNSBL zones from {}: {source}", path.display())
            }
            DnsblConfigError::Line { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

impl std::error::Error for DnsblConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DnsblConfigError::Io { source, .. } => Some(source),
            DnsblConfigError::Line { .. } => None,
        }
    }
}

/// Load a zone config file (see [`parse_zones`]).
pub fn load_zones(path: &Path) -> Result<Vec<ZoneConfig>, DnsblConfigError> {
    let io_err = |source| DnsblConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut text = String::new();
    io::Read::read_to_string(&mut BufReader::new(file), &mut text).map_err(io_err)?;
    parse_zones(&text)
}

/// Parse a zone config: CSV (RFC 4180 quoting, one record per line) with a header naming
/// [`COLUMNS`]; blank lines and lines starting with `#` are skipped. Code lists are `;`-separated
/// items, each `CODE[=meaning]` where CODE is `127.0.0.2`, `127.0.0.2-127.0.0.11`,
/// `127.0.1.0/24`, or `&N` (a bit of a bitmask zone's last octet).
pub fn parse_zones(text: &str) -> Result<Vec<ZoneConfig>, DnsblConfigError> {
    let mut header: Option<Vec<String>> = None;
    let mut zones: Vec<ZoneConfig> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n as u64 + 1;
        let err = |reason: String| DnsblConfigError::Line { line, reason };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = crate::csv_line::fields_strict(raw).map_err(err)?;
        let Some(cols) = &header else {
            let cols: Vec<String> = fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .collect();
            for c in &cols {
                if !COLUMNS.contains(&c.as_str()) {
                    return Err(err(format!(
                        "unknown column {c:?}; expected {}",
                        COLUMNS.join(",")
                    )));
                }
            }
            for required in ["zone", "kind", "listing_codes"] {
                if !cols.iter().any(|c| c == required) {
                    return Err(err(format!("header lacks the {required:?} column")));
                }
            }
            header = Some(cols);
            continue;
        };
        if fields.len() != cols.len() {
            return Err(err(format!(
                "{} fields, header has {}",
                fields.len(),
                cols.len()
            )));
        }
        let get = |name: &str| -> &str {
            cols.iter()
                .position(|c| c == name)
                .map_or("", |i| fields[i].trim())
        };
        let zone = normalise_name(get("zone"));
        if zone.is_empty() {
            return Err(err("empty zone".into()));
        }
        let kind = ZoneKind::parse(get("kind")).ok_or_else(|| {
            err(format!(
                "{zone}: bad kind {:?}: expected ip, ipv4 or domain",
                get("kind")
            ))
        })?;
        let listing = parse_codes(get("listing_codes"), "listed")
            .map_err(|e| err(format!("{zone}: listing_codes: {e}")))?;
        if listing.is_empty() {
            return Err(err(format!("{zone}: no listing codes")));
        }
        let errors = parse_codes(get("error_codes"), "zone error")
            .map_err(|e| err(format!("{zone}: error_codes: {e}")))?;
        let rate = get("rate_qps");
        let rate_qps = if rate.is_empty() {
            DEFAULT_RATE_QPS
        } else {
            rate.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    err(format!(
                        "{zone}: bad rate_qps {rate:?}: expected a positive number"
                    ))
                })?
        };
        if !seen.insert(zone.clone()) {
            return Err(err(format!("zone {zone} listed twice")));
        }
        zones.push(ZoneConfig {
            zone,
            kind,
            listing,
            errors,
            rate_qps,
            description: get("description").to_string(),
            reference: get("reference").to_string(),
        });
    }
    if header.is_none() {
        return Err(DnsblConfigError::Line {
            line: 1,
            reason: format!("no header; expected {}", COLUMNS.join(",")),
        });
    }
    Ok(zones)
}

fn parse_codes(list: &str, default_meaning: &str) -> Result<Vec<CodeRule>, String> {
    let mut out = Vec::new();
    for item in list.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (code, meaning) = match item.split_once('=') {
            Some((c, m)) => (c.trim(), m.trim()),
            None => (item, default_meaning),
        };
        let matcher = parse_code(code)?;
        out.push(CodeRule {
            matcher,
            meaning: meaning.to_string(),
        });
    }
    Ok(out)
}

fn parse_code(code: &str) -> Result<CodeMatch, String> {
    let v4 = |t: &str| {
        t.trim()
            .parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| format!("bad code {t:?}: expected an IPv4 address"))
    };
    let m = if let Some(bits) = code.strip_prefix('&') {
        let b: u8 = bits
            .trim()
            .parse()
            .ok()
            .filter(|b| *b != 0)
            .ok_or_else(|| format!("bad bitmask {code:?}: expected &1 to &255"))?;
        CodeMatch::Bits(b)
    } else if let Some((a, p)) = code.split_once('/') {
        let a = v4(a)?;
        let p: u32 = p
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("bad prefix in {code:?}"))?;
        let host = if p == 0 {
            u32::MAX
        } else {
            (1u32 << (32 - p)) - 1
        };
        CodeMatch::Range {
            start: a & !host,
            end: a | host,
        }
    } else if let Some((a, b)) = code.split_once('-') {
        let (start, end) = (v4(a)?, v4(b)?);
        if start > end {
            return Err(format!("bad range {code:?}: ends before it starts"));
        }
        CodeMatch::Range { start, end }
    } else {
        let a = v4(code)?;
        CodeMatch::Range { start: a, end: a }
    };
    if let CodeMatch::Range { start, end } = m
        && (start >> 24 != 127 || end >> 24 != 127)
    {
        return Err(format!(
            "code {code:?} is outside 127.0.0.0/8 (RFC 5782 2.3)"
        ));
    }
    Ok(m)
}

fn normalise_name(name: &str) -> String {
    let n = name.trim();
    n.strip_suffix('.').unwrap_or(n).to_ascii_lowercase()
}

impl ZoneConfig {
    /// Whether this zone is asked about `ip`.
    pub fn accepts_ip(&self, ip: IpAddr) -> bool {
        match self.kind {
            ZoneKind::Ip => true,
            ZoneKind::Ipv4 => ip.is_ipv4(),
            ZoneKind::Domain => false,
        }
    }

    /// The RFC 5782 5 test names: one the zone must list and one it must not. Asking them
    /// before a scan tells a working zone from a resolver that is refused, blocked or rewriting
    /// NXDOMAIN. (Some operators deviate; a failed probe is a warning, not proof.)
    pub fn probe_names(&self) -> (String, String) {
        match self.kind {
            ZoneKind::Domain => (
                format!("test.{}", self.zone),
                format!("invalid.{}", self.zone),
            ),
            _ => (
                format!("2.0.0.127.{}", self.zone),
                format!("1.0.0.127.{}", self.zone),
            ),
        }
    }

    fn matches(rules: &[CodeRule], code: u32) -> Vec<&str> {
        let all_bits: u8 = rules
            .iter()
            .filter_map(|r| match r.matcher {
                CodeMatch::Bits(b) => Some(b),
                CodeMatch::Range { .. } => None,
            })
            .fold(0, |a, b| a | b);
        let bitmask_code = code >> 8 == 0x007f_0000 && code as u8 & !all_bits == 0;
        rules
            .iter()
            .filter(|r| match r.matcher {
                CodeMatch::Range { start, end } => start <= code && code <= end,
                CodeMatch::Bits(b) => bitmask_code && code as u8 & b != 0,
            })
            .map(|r| r.meaning.as_str())
            .collect()
    }
}

/// The DNS outcome of a blocklist query, as the pipeline saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsStatus {
    /// NOERROR; the A records are passed alongside.
    Ok,
    NxDomain,
    /// NOERROR without A records.
    NoData,
    /// SERVFAIL, REFUSED, timeout... with a short description.
    Failure(String),
}

/// Why a blocklist answer says nothing about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A code the zone documents as an error or refusal.
    ZoneError,
    /// An answer outside 127.0.0.0/8: a resolver rewriting NXDOMAIN or a wildcard.
    NotLoopback,
    /// A 127/8 code the zone documents neither as listing nor as error.
    UnexpectedCode,
    /// The query itself failed.
    DnsFailure,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ZoneError => "zone_error",
            ErrorKind::NotLoopback => "not_loopback",
            ErrorKind::UnexpectedCode => "unexpected_code",
            ErrorKind::DnsFailure => "dns_failure",
        }
    }
}

/// What a blocklist answer means for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Listed: the codes (sorted, distinct) and their documented meanings (in rule order, distinct).
    Listed {
        codes: Vec<Ipv4Addr>,
        meanings: Vec<String>,
    },
    NotListed,
    Error {
        kind: ErrorKind,
        reason: String,
    },
}

impl Verdict {
    /// Whether the TXT record (the operator's reason text) is worth a query: only for listings.
    pub fn wants_txt(&self) -> bool {
        matches!(self, Verdict::Listed { .. })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Listed { .. } => "listed",
            Verdict::NotListed => "not_listed",
            Verdict::Error { .. } => "error",
        }
    }
}

/// Interpret a blocklist answer. Any error-class code makes the whole answer an error (a zone
/// that refuses us has said nothing about the target), ranked: not-loopback, then zone errors,
/// then unexpected codes.
pub fn interpret(zone: &ZoneConfig, status: &DnsStatus, answers: &[Ipv4Addr]) -> Verdict {
    match status {
        DnsStatus::NxDomain | DnsStatus::NoData => return Verdict::NotListed,
        DnsStatus::Failure(why) => {
            return Verdict::Error {
                kind: ErrorKind::DnsFailure,
                reason: format!("{}: {why}", zone.zone),
            };
        }
        DnsStatus::Ok if answers.is_empty() => return Verdict::NotListed,
        DnsStatus::Ok => {}
    }
    let mut codes: Vec<Ipv4Addr> = answers.to_vec();
    codes.sort_unstable();
    codes.dedup();
    if let Some(c) = codes.iter().find(|c| c.octets()[0] != 127) {
        return Verdict::Error {
            kind: ErrorKind::NotLoopback,
            reason: format!(
                "{c}: answer outside 127.0.0.0/8 (RFC 5782 2.3), likely a resolver rewriting NXDOMAIN"
            ),
        };
    }
    let mut meanings: Vec<String> = Vec::new();
    let mut unexpected = None;
    for c in &codes {
        let code = u32::from(*c);
        if let Some(m) = ZoneConfig::matches(&zone.errors, code).first() {
            return Verdict::Error {
                kind: ErrorKind::ZoneError,
                reason: format!("{c}: {m}"),
            };
        }
        let found = ZoneConfig::matches(&zone.listing, code);
        if found.is_empty() {
            unexpected.get_or_insert(*c);
        }
        for m in found {
            if !meanings.iter().any(|x| x == m) {
                meanings.push(m.to_string());
            }
        }
    }
    if let Some(c) = unexpected {
        return Verdict::Error {
            kind: ErrorKind::UnexpectedCode,
            reason: format!("{c}: code not documented for {}", zone.zone),
        };
    }
    Verdict::Listed { codes, meanings }
}

/// The DNSBL name for `ip` under `zone` (RFC 5782 2.1, 2.4): IPv4 octets reversed, IPv6 as 32
/// reversed nibbles.
pub fn dnsbl_query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim().trim_end_matches('.');
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.{zone}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut s = String::with_capacity(64 + 1 + zone.len());
            for byte in a.octets().iter().rev() {
                s.push(HEX[usize::from(byte & 0xf)] as char);
                s.push('.');
                s.push(HEX[usize::from(byte >> 4)] as char);
                s.push('.');
            }
            s.push_str(zone);
            s
        }
    }
}

/// Why a domain cannot be asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryNameError {
    Empty,
    /// The full name passes RFC 1035 2.3.4's 255-octet limit (253 characters of text).
    TooLong(usize),
    /// A label is empty or longer than 63 octets.
    BadLabel(String),
}

impl fmt::Display for QueryNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryNameError::Empty => write!(f, "empty domain"),
            QueryNameError::TooLong(n) => {
                write!(
                    f,
                    "query name would be {n} characters, over 253 (RFC 1035 2.3.4)"
                )
            }
            QueryNameError::BadLabel(l) => write!(f, "bad label {l:?}: must be 1 to 63 characters"),
        }
    }
}

impl std::error::Error for QueryNameError {}

/// The RHSBL name for `domain` under `zone` (RFC 5782 2.2): the domain, lowercased without a
/// trailing dot, prepended to the zone.
pub fn rhsbl_query_name(domain: &str, zone: &str) -> Result<String, QueryNameError> {
    let d = normalise_name(domain);
    if d.is_empty() {
        return Err(QueryNameError::Empty);
    }
    if let Some(l) = d.split('.').find(|l| l.is_empty() || l.len() > 63) {
        return Err(QueryNameError::BadLabel(l.to_string()));
    }
    let name = format!("{d}.{}", zone.trim().trim_end_matches('.'));
    if name.len() > 253 {
        return Err(QueryNameError::TooLong(name.len()));
    }
    Ok(name)
}

/// What a set of blocklist zones said about one name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Listings {
    /// Zones listing it (a documented listing code).
    pub listed: Vec<String>,
    /// `zone: codes (meanings)` per listing.
    pub codes: Vec<String>,
    /// `zone: TXT reason` per listing.
    pub reasons: Vec<String>,
    /// `zone: reason` for error codes, undocumented codes and failures.
    pub errors: Vec<String>,
}

impl Listings {
    /// The hosts row's DNSBL columns (`dnsbl_*`), over the address's listings.
    #[rustfmt::skip]
    pub fn ip_columns() -> Vec<Column<Listings>> {
        type C = Column<Listings>;
        vec![
            C::new("dnsbl_listed", ListUtf8, |l| StrList(Some(&l.listed)))
                .doc("zones listing the address: only A answers whose code the zone defines as a listing"),
            C::new("dnsbl_codes", ListUtf8, |l| StrList(Some(&l.codes)))
                .doc("per listing, `zone: codes (meanings)`"),
            C::new("dnsbl_reasons", ListUtf8, |l| StrList(Some(&l.reasons)))
                .doc("per listing, `zone: TXT reason` (TXT is fetched only for listings)"),
            C::new("dnsbl_errors", ListUtf8, |l| StrList(Some(&l.errors)))
                .doc("`zone: reason` for error codes (e.g. Spamhaus's 127.255.255.254 \"query via public/open resolver\"), codes the zone does not define, answers outside 127/8, and DNS failures; never counted as listings"),
        ]
    }

    /// The domain row's RHSBL columns (`dnsbl_domain_*`), over the domain's listings.
    #[rustfmt::skip]
    pub fn domain_columns() -> Vec<Column<Listings>> {
        type C = Column<Listings>;
        vec![
            C::new("dnsbl_domain_listed", ListUtf8, |l| StrList(Some(&l.listed)))
                .doc("domain blocklists (RHSBL zones of `--dnsbl`) listing the domain; null when no domain zone was queried"),
            C::new("dnsbl_domain_reasons", ListUtf8, |l| StrList(Some(&l.reasons)))
                .doc("per listing, `zone: TXT reason`"),
            C::new("dnsbl_domain_errors", ListUtf8, |l| StrList(Some(&l.errors)))
                .doc("`zone: reason` for error codes, undocumented codes and failures"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../datasets/dnsbl-zones.csv");
    const FIXTURES: &str = include_str!("../../tests/fixtures/dnsbl-test.csv");

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn zone(name: &str) -> ZoneConfig {
        parse_zones(SHIPPED)
            .unwrap()
            .into_iter()
            .chain(parse_zones(FIXTURES).unwrap())
            .find(|z| z.zone == name)
            .unwrap_or_else(|| panic!("{name} not in the dataset"))
    }

    #[test]
    fn shipped_dataset_parses() {
        let zones = parse_zones(SHIPPED).unwrap();
        let names: Vec<&str> = zones.iter().map(|z| z.zone.as_str()).collect();
        for want in [
            "zen.spamhaus.org",
            "dbl.spamhaus.org",
            "bl.spamcop.net",
            "b.barracudacentral.org",
            "psbl.surriel.com",
            "multi.uribl.com",
        ] {
            assert!(names.contains(&want), "{want} missing");
        }
        for z in &zones {
            let fixture = z.zone.ends_with(".test");
            assert!(
                fixture || z.rate_qps <= 10.0,
                "{} rate {}",
                z.zone,
                z.rate_qps
            );
            assert!(!z.reference.is_empty(), "{} has no reference", z.zone);
        }
    }

    #[test]
    fn interpret_table() {
        let ok = DnsStatus::Ok;
        // (zone, status, answers, expected verdict label, expected detail)
        let cases: &[(&str, DnsStatus, &[&str], &str, &str)] = &[
            (
                "zen.spamhaus.org",
                DnsStatus::NxDomain,
                &[],
                "not_listed",
                "",
            ),
            ("zen.spamhaus.org", DnsStatus::NoData, &[], "not_listed", ""),
            ("zen.spamhaus.org", ok.clone(), &[], "not_listed", ""),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.0.0.2"],
                "listed",
                "SBL",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.0.0.11", "127.0.0.4", "127.0.0.4"],
                "listed",
                "XBL|PBL Spamhaus maintained",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.255.255.254"],
                "zone_error",
                "127.255.255.254: query via public/open resolver",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.0.0.2", "127.255.255.255"],
                "zone_error",
                "127.255.255.255: excessive number of queries",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.255.255.252"],
                "zone_error",
                "127.255.255.252: typing error in DNSBL name",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.0.0.8"],
                "unexpected_code",
                "127.0.0.8: code not documented for zen.spamhaus.org",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.255.255.253"],
                "unexpected_code",
                "127.255.255.253: code not documented for zen.spamhaus.org",
            ),
            (
                "zen.spamhaus.org",
                ok.clone(),
                &["127.0.0.2", "198.51.100.5"],
                "not_loopback",
                "198.51.100.5: answer outside 127.0.0.0/8 (RFC 5782 2.3), likely a resolver rewriting NXDOMAIN",
            ),
            (
                "zen.spamhaus.org",
                DnsStatus::Failure("SERVFAIL".into()),
                &[],
                "dns_failure",
                "zen.spamhaus.org: SERVFAIL",
            ),
            (
                "dbl.spamhaus.org",
                ok.clone(),
                &["127.0.1.2"],
                "listed",
                "spam domain",
            ),
            (
                "dbl.spamhaus.org",
                ok.clone(),
                &["127.0.1.255"],
                "zone_error",
                "127.0.1.255: IP queries prohibited",
            ),
            (
                "dbl.spamhaus.org",
                ok.clone(),
                &["127.0.0.2"],
                "unexpected_code",
                "127.0.0.2: code not documented for dbl.spamhaus.org",
            ),
            (
                "bl.spamcop.net",
                ok.clone(),
                &["127.0.0.2"],
                "listed",
                "listed in SpamCop BL",
            ),
            (
                "bl.spamcop.net",
                ok.clone(),
                &["127.0.0.3"],
                "unexpected_code",
                "127.0.0.3: code not documented for bl.spamcop.net",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.2"],
                "listed",
                "black",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.14"],
                "listed",
                "black|grey|red",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.10"],
                "listed",
                "black|red",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.1"],
                "zone_error",
                "127.0.0.1: query refused (resolver blocked or over quota)",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.16"],
                "unexpected_code",
                "127.0.0.16: code not documented for multi.uribl.com",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.0.3"],
                "unexpected_code",
                "127.0.0.3: code not documented for multi.uribl.com",
            ),
            (
                "multi.uribl.com",
                ok.clone(),
                &["127.0.1.2"],
                "unexpected_code",
                "127.0.1.2: code not documented for multi.uribl.com",
            ),
            (
                "bl.test",
                ok.clone(),
                &["127.0.0.2"],
                "listed",
                "test listing",
            ),
            (
                "bl.test",
                ok.clone(),
                &["127.255.255.254"],
                "zone_error",
                "127.255.255.254: query via public/open resolver",
            ),
            (
                "bl2.test",
                ok.clone(),
                &["127.0.0.99"],
                "unexpected_code",
                "127.0.0.99: code not documented for bl2.test",
            ),
            (
                "bl.test",
                ok.clone(),
                &["127.0.0.1"],
                "unexpected_code",
                "127.0.0.1: code not documented for bl.test",
            ),
        ];
        for (name, status, answers, label, detail) in cases {
            let z = zone(name);
            let answers: Vec<Ipv4Addr> = answers.iter().map(|s| a(s)).collect();
            let v = interpret(&z, status, &answers);
            let (got_label, got_detail) = match &v {
                Verdict::Listed { meanings, .. } => ("listed", meanings.join("|")),
                Verdict::NotListed => ("not_listed", String::new()),
                Verdict::Error { kind, reason } => (kind.as_str(), reason.clone()),
            };
            assert_eq!(
                (got_label, got_detail.as_str()),
                (*label, *detail),
                "{name} {answers:?}"
            );
            assert_eq!(v.wants_txt(), *label == "listed");
        }
    }

    #[test]
    fn listed_codes_are_sorted_and_distinct() {
        let v = interpret(
            &zone("zen.spamhaus.org"),
            &DnsStatus::Ok,
            &[a("127.0.0.10"), a("127.0.0.2"), a("127.0.0.10")],
        );
        assert_eq!(
            v,
            Verdict::Listed {
                codes: vec![a("127.0.0.2"), a("127.0.0.10")],
                meanings: vec!["SBL".into(), "PBL ISP maintained".into()],
            }
        );
    }

    #[test]
    fn config_errors_name_the_line() {
        let h = "zone,kind,listing_codes,error_codes,rate_qps\n";
        let cases: &[(String, &str)] = &[
            (
                String::new(),
                "line 1: no header; expected zone,kind,listing_codes,error_codes,rate_qps,description,reference",
            ),
            (
                "zone,kind\n".into(),
                "line 1: header lacks the \"listing_codes\" column",
            ),
            (
                "zone,kind,listing_codes,colour\n".into(),
                "line 1: unknown column \"colour\"; expected zone,kind,listing_codes,error_codes,rate_qps,description,reference",
            ),
            (
                format!("{h}x.test,ip,127.0.0.2\n"),
                "line 2: 3 fields, header has 5",
            ),
            (
                format!("{h}# c\n\nx.test,net,127.0.0.2,,1\n"),
                "line 4: x.test: bad kind \"net\": expected ip, ipv4 or domain",
            ),
            (
                format!("{h}x.test,ip,10.0.0.2,,1\n"),
                "line 2: x.test: listing_codes: code \"10.0.0.2\" is outside 127.0.0.0/8 (RFC 5782 2.3)",
            ),
            (
                format!("{h}x.test,ip,127.0.0.9-127.0.0.2,,1\n"),
                "line 2: x.test: listing_codes: bad range \"127.0.0.9-127.0.0.2\": ends before it starts",
            ),
            (
                format!("{h}x.test,ip,127.0.0.x,,1\n"),
                "line 2: x.test: listing_codes: bad code \"127.0.0.x\": expected an IPv4 address",
            ),
            (
                format!("{h}x.test,ip,&0,,1\n"),
                "line 2: x.test: listing_codes: bad bitmask \"&0\": expected &1 to &255",
            ),
            (
                format!("{h}x.test,ip,,,1\n"),
                "line 2: x.test: no listing codes",
            ),
            (
                format!("{h}x.test,ip,127.0.0.2,127.0.0.1/33,1\n"),
                "line 2: x.test: error_codes: bad prefix in \"127.0.0.1/33\"",
            ),
            (
                format!("{h}x.test,ip,127.0.0.2,,0\n"),
                "line 2: x.test: bad rate_qps \"0\": expected a positive number",
            ),
            (
                format!("{h}x.test,ip,127.0.0.2,,1\nX.test.,ip,127.0.0.2,,1\n"),
                "line 3: zone x.test listed twice",
            ),
            (
                format!("{h}\"x.test,ip,127.0.0.2,,1\n"),
                "line 2: unterminated quoted field",
            ),
        ];
        for (input, msg) in cases {
            let e = parse_zones(input).unwrap_err();
            assert_eq!(e.to_string(), *msg, "{input:?}");
        }
    }

    #[test]
    fn config_quoting_and_defaults() {
        let text = "kind,zone,listing_codes\n\
                    domain,\"Rhs.Example.\",\"127.0.1.0/24=spam, \"\"bad\"\"\"\n";
        let z = &parse_zones(text).unwrap()[0];
        assert_eq!(z.zone, "rhs.example");
        assert_eq!(z.kind, ZoneKind::Domain);
        assert_eq!(z.rate_qps, DEFAULT_RATE_QPS);
        assert_eq!(z.listing[0].meaning, "spam, \"bad\"");
        assert_eq!(
            z.listing[0].matcher,
            CodeMatch::Range {
                start: u32::from(a("127.0.1.0")),
                end: u32::from(a("127.0.1.255"))
            }
        );
    }

    #[test]
    fn query_names() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "192.0.2.99",
                "zen.spamhaus.org",
                "99.2.0.192.zen.spamhaus.org",
            ),
            ("192.0.2.99", "bl.test.", "99.2.0.192.bl.test"),
            ("127.0.0.2", "bl.test", "2.0.0.127.bl.test"),
            (
                "2001:db8:1:2:3:4:567:89ab",
                "bl.test",
                "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test",
            ),
            (
                "::1",
                "bl.test",
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test",
            ),
        ];
        for (ip, zone, want) in cases {
            assert_eq!(dnsbl_query_name(ip.parse().unwrap(), zone), *want);
        }
        let long = format!("{}.example", vec!["a".repeat(63); 4].join("."));
        let rhs: &[(&str, Result<&str, &str>)] = &[
            ("Example.COM.", Ok("example.com.dbl.spamhaus.org")),
            ("", Err("empty domain")),
            (".", Err("empty domain")),
            ("a..b", Err("bad label \"\": must be 1 to 63 characters")),
            (
                &long,
                Err("query name would be 280 characters, over 253 (RFC 1035 2.3.4)"),
            ),
        ];
        for (d, want) in rhs {
            let got = rhsbl_query_name(d, "dbl.spamhaus.org").map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                want.map_err(|e| e.to_string()).as_deref(),
                "{d}"
            );
        }
    }

    #[test]
    fn probes_and_families() {
        let zen = zone("zen.spamhaus.org");
        assert_eq!(
            zen.probe_names(),
            (
                "2.0.0.127.zen.spamhaus.org".into(),
                "1.0.0.127.zen.spamhaus.org".into()
            )
        );
        let dbl = zone("dbl.spamhaus.org");
        assert_eq!(dbl.probe_names().1, "invalid.dbl.spamhaus.org");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(zen.accepts_ip(v6) && zen.accepts_ip(v4));
        let spamcop = zone("bl.spamcop.net");
        assert!(!spamcop.accepts_ip(v6) && spamcop.accepts_ip(v4));
        assert!(!dbl.accepts_ip(v4));
    }
}
