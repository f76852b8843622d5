//! IP address -> origin AS, offline from a range table (iptoasn.com's `ip2asn-combined.tsv`
//! layout), plus pure helpers for Team Cymru's IP-to-ASN DNS interface.
//!
//! The table is two vectors (IPv4, IPv6) of disjoint ranges sorted by start; a lookup is one
//! binary search. AS names and country codes repeat across ranges, so they are interned.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::dnsbl::dnsbl_query_name;
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The origin AS of a host, from the `--asn-db` table or the DNS service: the hosts row's ASN
/// columns.
#[derive(Debug, Clone, PartialEq)]
pub struct AsnFindings {
    pub asn: u32,
    /// The table range holding the address, `first-last`, or the announced prefix `prefix/len`.
    pub range: String,
    pub country: Option<String>,
    pub name: Option<String>,
}

impl AsnFindings {
    /// From the table's entry for the address.
    pub fn from_table(info: &AsnInfo) -> AsnFindings {
        AsnFindings {
            asn: info.asn,
            range: format!("{}-{}", info.prefix_start, info.prefix_end),
            country: Some(info.country.to_string()),
            name: Some(info.name.to_string()),
        }
    }

    /// The hosts row's ASN columns; a host whose AS is unknown has them all null.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<AsnFindings>> {
        type C = Column<AsnFindings>;
        vec![
            C::new("asn", UInt32, |f| U32(Some(f.asn)))
                .doc("origin AS from the `--asn-db` table, else (with `--asn-dns`) from Team Cymru's DNS service, cached per announced prefix; null when unknown or not routed"),
            C::new("asn_range", Utf8, |f| Str(Some(&f.range)))
                .doc("the table's range holding the address, `first-last`, or the announced prefix `prefix/len` from DNS"),
            C::new("asn_country", Utf8, |f| Str(f.country.as_deref()))
                .doc("as in the table"),
            C::new("asn_name", Utf8, |f| Str(f.name.as_deref()))
                .doc("as in the table"),
        ]
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    start: T,
    end: T,
    asn: u32,
    country: u32,
    name: u32,
}

/// What the table says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsnInfo<'a> {
    pub asn: u32,
    /// First and last address of the table range holding the address (a range, not always one
    /// CIDR block).
    pub prefix_start: IpAddr,
    pub prefix_end: IpAddr,
    /// As in the table (ISO 3166 alpha-2, or e.g. "Unknown").
    pub country: &'a str,
    pub name: &'a str,
}

/// Counts from loading a table, for the run log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub lines: u64,
    /// Ranges kept.
    pub ranges: usize,
    /// Rows with AS 0 ("Not routed"), which are left out so they read as "no ASN".
    pub not_routed: u64,
    /// Unparsable rows, skipped.
    pub bad: u64,
    /// Rows overlapping an earlier range, skipped (the table is meant to be disjoint).
    pub overlapping: u64,
    /// The first few bad rows: (line, reason).
    pub first_errors: Vec<(u64, String)>,
}

/// How many bad rows [`LoadReport::first_errors`] keeps.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// Failure to read a table at all (bad rows are counted, not errors).
#[derive(Debug)]
pub enum AsnError {
    Io { path: PathBuf, source: io::Error },
}

impl fmt::Display for AsnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsnError::Io { path, source } => {
                write!(f, "reading the ASN table {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for AsnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AsnError::Io { source, .. } => Some(source),
        }
    }
}

/// An offline IP -> ASN table.
#[derive(Debug, Clone, Default)]
pub struct AsnDb {
    v4: Vec<Entry<u32>>,
    v6: Vec<Entry<u128>>,
    strings: Vec<Box<str>>,
}

struct Row<'a> {
    start: IpAddr,
    end: IpAddr,
    asn: u32,
    country: &'a str,
    name: &'a str,
}

fn parse_row(line: &str) -> Result<Row<'_>, String> {
    let mut f = line.splitn(5, '\t');
    let mut next = |what: &str| f.next().ok_or_else(|| format!("missing {what} column"));
    let (start, end, asn, country, name) = (
        next("range_start")?,
        next("range_end")?,
        next("AS_number")?,
        next("country_code")?,
        next("AS_description")?,
    );
    let addr = |t: &str| {
        t.trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("bad address {t:?}"))
    };
    let (start, end) = (addr(start)?, addr(end)?);
    let asn_text = asn.trim();
    let asn = asn_text
        .strip_prefix("AS")
        .unwrap_or(asn_text)
        .parse::<u32>()
        .map_err(|_| format!("bad AS number {asn:?}"))?;
    match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {}
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {}
        _ => return Err(format!("bad range {start}-{end}")),
    }
    Ok(Row {
        start,
        end,
        asn,
        country: country.trim(),
        name: name.trim_end_matches(['\r', '\n']).trim(),
    })
}

/// Sort by start and drop ranges overlapping an earlier one; returns how many were dropped.
fn sort_disjoint<T: Ord + Copy>(v: &mut Vec<Entry<T>>) -> u64 {
    v.sort_by_key(|e| (e.start, e.end));
    let before = v.len();
    let mut last_end: Option<T> = None;
    v.retain(|e| {
        let keep = last_end.is_none_or(|end| e.start > end);
        if keep {
            last_end = Some(e.end);
        }
        keep
    });
    (before - v.len()) as u64
}

fn find<T: Ord + Copy>(v: &[Entry<T>], x: T) -> Option<&Entry<T>> {
    let i = v.partition_point(|e| e.start <= x);
    v.get(i.checked_sub(1)?).filter(|e| x <= e.end)
}

impl AsnDb {
    /// Load a table from a file (wrap a gzip decoder around the reader with [`AsnDb::from_reader`]
    /// for `.tsv.gz`).
    pub fn from_file(path: &Path) -> Result<(AsnDb, LoadReport), AsnError> {
        let io_err = |source| AsnError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        Self::from_reader(BufReader::new(file)).map_err(io_err)
    }

    /// Load a table line by line: `range_start<TAB>range_end<TAB>AS_number<TAB>country<TAB>
    /// AS_description`, addresses as text, both families. Bad rows are skipped and counted.
    pub fn from_reader<R: BufRead>(mut reader: R) -> io::Result<(AsnDb, LoadReport)> {
        let mut db = AsnDb::default();
        let mut report = LoadReport::default();
        let mut interned: HashMap<String, u32> = HashMap::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            report.lines += 1;
            let line = report.lines;
            let parsed = std::str::from_utf8(&buf)
                .map_err(|_| "not valid UTF-8".to_string())
                .and_then(|text| {
                    if text.trim().is_empty() || text.starts_with('#') {
                        Ok(None)
                    } else {
                        parse_row(text).map(Some)
                    }
                });
            let row = match parsed {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(reason) => {
                    report.bad += 1;
                    if report.first_errors.len() < MAX_REPORTED_ERRORS {
                        report.first_errors.push((line, reason));
                    }
                    continue;
                }
            };
            if row.asn == 0 {
                report.not_routed += 1;
                continue;
            }
            let mut intern = |s: &str| -> u32 {
                if let Some(i) = interned.get(s) {
                    return *i;
                }
                let i = db.strings.len() as u32;
                db.strings.push(s.into());
                interned.insert(s.to_string(), i);
                i
            };
            let (country, name) = (intern(row.country), intern(row.name));
            match (row.start, row.end) {
                (IpAddr::V4(a), IpAddr::V4(b)) => db.v4.push(Entry {
                    start: u32::from(a),
                    end: u32::from(b),
                    asn: row.asn,
                    country,
                    name,
                }),
                (IpAddr::V6(a), IpAddr::V6(b)) => db.v6.push(Entry {
                    start: u128::from(a),
                    end: u128::from(b),
                    asn: row.asn,
                    country,
                    name,
                }),
                _ => unreachable!("parse_row checks the families match"),
            }
        }
        report.overlapping = sort_disjoint(&mut db.v4) + sort_disjoint(&mut db.v6);
        db.v4.shrink_to_fit();
        db.v6.shrink_to_fit();
        report.ranges = db.v4.len() + db.v6.len();
        Ok((db, report))
    }

    /// The origin AS of `ip`, or `None` if the table has no routed range for it.
    pub fn lookup(&self, ip: IpAddr) -> Option<AsnInfo<'_>> {
        let (asn, start, end, country, name) = match ip {
            IpAddr::V4(a) => {
                let e = find(&self.v4, u32::from(a))?;
                let (s, t) = (Ipv4Addr::from(e.start).into(), Ipv4Addr::from(e.end).into());
                (e.asn, s, t, e.country, e.name)
            }
            IpAddr::V6(a) => {
                let e = find(&self.v6, u128::from(a))?;
                let (s, t) = (Ipv6Addr::from(e.start).into(), Ipv6Addr::from(e.end).into());
                (e.asn, s, t, e.country, e.name)
            }
        };
        Some(AsnInfo {
            asn,
            prefix_start: start,
            prefix_end: end,
            country: &self.strings[country as usize],
            name: &self.strings[name as usize],
        })
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Team Cymru's zone for IPv4 origin lookups.
pub const CYMRU_ORIGIN_V4: &str = "origin.asn.cymru.com";
/// Team Cymru's zone for IPv6 origin lookups.
pub const CYMRU_ORIGIN_V6: &str = "origin6.asn.cymru.com";
/// Team Cymru's zone for AS name lookups.
pub const CYMRU_AS_ZONE: &str = "asn.cymru.com";

/// The TXT query name for `ip`'s origin: reversed octets under `v4_zone`, reversed nibbles
/// under `v6_zone` (the DNSBL layout, RFC 5782 2.4).
pub fn cymru_origin_name(ip: IpAddr, v4_zone: &str, v6_zone: &str) -> String {
    match ip {
        IpAddr::V4(_) => dnsbl_query_name(ip, v4_zone),
        IpAddr::V6(_) => dnsbl_query_name(ip, v6_zone),
    }
}

/// The TXT query name for an AS's name: `AS<asn>.<zone>`.
pub fn cymru_as_name(asn: u32, zone: &str) -> String {
    format!("AS{asn}.{}", zone.trim().trim_end_matches('.'))
}

/// A parsed origin answer: `"23028 | 216.90.108.0/24 | US | arin | 1998-09-25"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CymruOrigin {
    /// Several when the prefix is announced by more than one AS (MOAS).
    pub asns: Vec<u32>,
    pub prefix: IpAddr,
    pub prefix_len: u8,
    /// Empty when unknown.
    pub country: String,
    pub registry: String,
    /// Allocation date as given (YYYY-MM-DD), empty when unknown.
    pub allocated: String,
}

/// A parsed AS name answer: `"23028 | US | arin | 2002-01-04 | TEAMCYMRU - SAUNET, US"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CymruAs {
    pub asn: u32,
    pub country: String,
    pub registry: String,
    pub allocated: String,
    pub name: String,
}

/// Why a Team Cymru TXT answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CymruError {
    /// Not the expected number of `|`-separated fields.
    FieldCount {
        expected: usize,
        got: usize,
    },
    NoAsn,
    BadAsn(String),
    BadPrefix(String),
}

impl fmt::Display for CymruError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CymruError::FieldCount { expected, got } => {
                write!(f, "expected {expected} '|'-separated fields, got {got}")
            }
            CymruError::NoAsn => write!(f, "no AS number"),
            CymruError::BadAsn(t) => write!(f, "bad AS number {t:?}"),
            CymruError::BadPrefix(t) => write!(f, "bad prefix {t:?}"),
        }
    }
}

impl std::error::Error for CymruError {}

/// Split a TXT answer into trimmed fields; the TXT data may arrive with its quotes.
fn cymru_fields(txt: &str, expected: usize) -> Result<Vec<&str>, CymruError> {
    let t = txt.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t);
    let fields: Vec<&str> = t.split('|').map(str::trim).collect();
    if fields.len() != expected {
        return Err(CymruError::FieldCount {
            expected,
            got: fields.len(),
        });
    }
    Ok(fields)
}

fn parse_asn(t: &str) -> Result<u32, CymruError> {
    t.parse().map_err(|_| CymruError::BadAsn(t.to_string()))
}

/// Parse an origin TXT answer.
pub fn parse_cymru_origin(txt: &str) -> Result<CymruOrigin, CymruError> {
    let f = cymru_fields(txt, 5)?;
    let asns = f[0]
        .split_whitespace()
        .map(parse_asn)
        .collect::<Result<Vec<u32>, _>>()?;
    if asns.is_empty() {
        return Err(CymruError::NoAsn);
    }
    let bad = || CymruError::BadPrefix(f[1].to_string());
    let (addr, len) = f[1].split_once('/').ok_or_else(bad)?;
    let prefix: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if prefix.is_ipv4() { 32 } else { 128 };
    let prefix_len: u8 = len.parse().ok().filter(|l| *l <= max).ok_or_else(bad)?;
    Ok(CymruOrigin {
        asns,
        prefix,
        prefix_len,
        country: f[2].to_string(),
        registry: f[3].to_string(),
        allocated: f[4].to_string(),
    })
}

/// Parse an AS name TXT answer.
pub fn parse_cymru_as(txt: &str) -> Result<CymruAs, CymruError> {
    // The name may itself contain '|' in principle: split the first four fields only.
    let t = txt.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t);
    let f: Vec<&str> = t.splitn(5, '|').map(str::trim).collect();
    if f.len() != 5 {
        return Err(CymruError::FieldCount {
            expected: 5,
            got: f.len(),
        });
    }
    if f[0].is_empty() {
        return Err(CymruError::NoAsn);
    }
    Ok(CymruAs {
        asn: parse_asn(f[0])?,
        country: f[1].to_string(),
        registry: f[2].to_string(),
        allocated: f[3].to_string(),
        name: f[4].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const TSV: &str = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
        1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n\
        1.0.4.0\t1.0.7.255\t38803\tAU\tGTELECOM-AUSTRALIA Gtelecom Pty Ltd\n\
        this is not a row\n\
        1.0.8.0\t1.0.15.255\tx\tCN\tBAD\n\
        1.0.16.0\t1.0.15.255\t1\tCN\treversed\n\
        1.0.16.0\t2001:db8::\t1\tCN\tmixed\n\
        \n\
        1.0.6.0\t1.0.6.255\t999\tZZ\toverlaps 38803\n\
        2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE-BB WIDE Project\n\
        2001:db8::\t2001:db8::ffff\t0\tNone\tNot routed\n\
        8.8.8.0\t8.8.8.255\tAS15169\tUS\tGOOGLE\r\n\
        255.255.255.0\t255.255.255.255\t64512\tUnknown\ttop\n\
        1.0.0.0\t1.0.0.0\n";

    #[test]
    fn lookup_table() {
        let (db, report) = AsnDb::from_reader(TSV.as_bytes()).unwrap();
        // (address, expected (asn, start, end, country, name))
        type Case<'a> = (&'a str, Option<(u32, &'a str, &'a str, &'a str, &'a str)>);
        let cases: &[Case] = &[
            (
                "1.0.0.0",
                Some((13335, "1.0.0.0", "1.0.0.255", "US", "CLOUDFLARENET")),
            ),
            (
                "1.0.0.255",
                Some((13335, "1.0.0.0", "1.0.0.255", "US", "CLOUDFLARENET")),
            ),
            ("1.0.1.1", None),
            (
                "1.0.6.1",
                Some((
                    38803,
                    "1.0.4.0",
                    "1.0.7.255",
                    "AU",
                    "GTELECOM-AUSTRALIA Gtelecom Pty Ltd",
                )),
            ),
            ("1.0.9.1", None),
            ("0.255.255.255", None),
            (
                "8.8.8.8",
                Some((15169, "8.8.8.0", "8.8.8.255", "US", "GOOGLE")),
            ),
            (
                "255.255.255.255",
                Some((64512, "255.255.255.0", "255.255.255.255", "Unknown", "top")),
            ),
            (
                "2001:200::25",
                Some((
                    2500,
                    "2001:200::",
                    "2001:200:ffff:ffff:ffff:ffff:ffff:ffff",
                    "JP",
                    "WIDE-BB WIDE Project",
                )),
            ),
            ("2001:db8::1", None),
            ("::ffff:1.0.0.1", None),
        ];
        for (addr, want) in cases {
            let got = db.lookup(ip(addr));
            let want = want.map(|(asn, s, e, c, n)| AsnInfo {
                asn,
                prefix_start: ip(s),
                prefix_end: ip(e),
                country: c,
                name: n,
            });
            assert_eq!(got, want, "{addr}");
        }
        assert_eq!(report.lines, 14);
        assert_eq!(report.ranges, 5);
        assert_eq!(db.len(), 5);
        assert_eq!(report.not_routed, 2);
        assert_eq!(report.overlapping, 1);
        assert_eq!(report.bad, 5);
        let bad_lines: Vec<u64> = report.first_errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(bad_lines, [4, 5, 6, 7, 14]);
        assert_eq!(report.first_errors[1].1, "bad AS number \"x\"");
        assert_eq!(report.first_errors[4].1, "missing AS_number column");
    }

    #[test]
    fn from_file_and_missing_file() {
        let path = std::env::temp_dir().join(format!("ipscratch-asn-{}.tsv", std::process::id()));
        std::fs::write(&path, TSV).unwrap();
        let (db, _) = AsnDb::from_file(&path).unwrap();
        assert_eq!(db.lookup(ip("8.8.8.8")).unwrap().asn, 15169);
        std::fs::remove_file(&path).unwrap();
        let e = AsnDb::from_file(&path).unwrap_err();
        assert!(e.to_string().contains("ipscratch-asn-"), "{e}");
    }

    #[test]
    fn cymru_names() {
        let cases: &[(&str, &str)] = &[
            ("216.90.108.31", "31.108.90.216.origin.asn.cymru.com"),
            (
                "2001:db8::1",
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.origin6.asn.cymru.com",
            ),
        ];
        for (addr, want) in cases {
            assert_eq!(
                cymru_origin_name(ip(addr), CYMRU_ORIGIN_V4, CYMRU_ORIGIN_V6),
                *want
            );
        }
        assert_eq!(cymru_as_name(23028, CYMRU_AS_ZONE), "AS23028.asn.cymru.com");
    }

    #[test]
    fn cymru_origin_table() {
        // (answer, expected (asns, prefix, length, country, registry, allocated) or error)
        type Case<'a> = (
            &'a str,
            Result<(&'a [u32], &'a str, u8, &'a str, &'a str, &'a str), &'a str>,
        );
        let cases: &[Case] = &[
            (
                "\"23028 | 216.90.108.0/24 | US | arin | 1998-09-25\"",
                Ok((&[23028], "216.90.108.0", 24, "US", "arin", "1998-09-25")),
            ),
            (
                "23028 | 216.90.108.0/24 | US | arin | 1998-09-25",
                Ok((&[23028], "216.90.108.0", 24, "US", "arin", "1998-09-25")),
            ),
            (
                "701 1239 3549 | 216.90.108.0/24 | US | arin |",
                Ok((&[701, 1239, 3549], "216.90.108.0", 24, "US", "arin", "")),
            ),
            (
                "2500 | 2001:200::/32 |  | apnic | 1999-08-04",
                Ok((&[2500], "2001:200::", 32, "", "apnic", "1999-08-04")),
            ),
            ("", Err("expected 5 '|'-separated fields, got 1")),
            (
                "23028 | 216.90.108.0/24 | US | arin",
                Err("expected 5 '|'-separated fields, got 4"),
            ),
            (" | 216.90.108.0/24 | US | arin | x", Err("no AS number")),
            (
                "AS23028 | 216.90.108.0/24 | US | arin | x",
                Err("bad AS number \"AS23028\""),
            ),
            (
                "99999999999 | 216.90.108.0/24 | US | arin | x",
                Err("bad AS number \"99999999999\""),
            ),
            (
                "1 | 216.90.108.0 | US | arin | x",
                Err("bad prefix \"216.90.108.0\""),
            ),
            (
                "1 | 216.90.108.0/33 | US | arin | x",
                Err("bad prefix \"216.90.108.0/33\""),
            ),
            (
                "1 | 2001:db8::/129 | US | arin | x",
                Err("bad prefix \"2001:db8::/129\""),
            ),
            (
                "1 | nowhere/8 | US | arin | x",
                Err("bad prefix \"nowhere/8\""),
            ),
        ];
        for (txt, want) in cases {
            let got = parse_cymru_origin(txt);
            match want {
                Ok((asns, prefix, len, country, registry, allocated)) => {
                    let o = got.unwrap_or_else(|e| panic!("{txt}: {e}"));
                    assert_eq!(o.asns, *asns, "{txt}");
                    assert_eq!((o.prefix, o.prefix_len), (ip(prefix), *len), "{txt}");
                    assert_eq!(
                        (
                            o.country.as_str(),
                            o.registry.as_str(),
                            o.allocated.as_str()
                        ),
                        (*country, *registry, *allocated),
                        "{txt}"
                    );
                }
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), *msg, "{txt}"),
            }
        }
    }

    #[test]
    fn cymru_as_table() {
        // (answer, expected (asn, country, name) or error)
        type Case<'a> = (&'a str, Result<(u32, &'a str, &'a str), &'a str>);
        let cases: &[Case] = &[
            (
                "\"23028 | US | arin | 2002-01-04 | TEAMCYMRU - SAUNET, US\"",
                Ok((23028, "US", "TEAMCYMRU - SAUNET, US")),
            ),
            (
                "1 | ZZ | ripencc | | odd | name",
                Ok((1, "ZZ", "odd | name")),
            ),
            (
                "23028 | US | arin",
                Err("expected 5 '|'-separated fields, got 3"),
            ),
            (" | US | arin | x | y", Err("no AS number")),
            ("x | US | arin | x | y", Err("bad AS number \"x\"")),
        ];
        for (txt, want) in cases {
            let got = parse_cymru_as(txt);
            match want {
                Ok((asn, country, name)) => {
                    let a = got.unwrap_or_else(|e| panic!("{txt}: {e}"));
                    assert_eq!(
                        (a.asn, a.country.as_str(), a.name.as_str()),
                        (*asn, *country, *name)
                    );
                }
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), *msg, "{txt}"),
            }
        }
    }
}
