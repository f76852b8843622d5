//! Bulk-sender readiness: the requirements of Gmail and Yahoo (February 2024) and Outlook.com
//! (May 2025) for senders of large volumes that can be checked from outside, judged per domain.
//!
//! The scan writes a domain's row before its MX addresses are checked (separate stages), so the
//! verdict is made here, joining `domains.mx_ips` with `hosts.ip`: the hosts are kept in a compact
//! map (address -> one byte of two tri-states), the domains are streamed part by part.
//!
//! Sources: Google, "Email sender guidelines" (support.google.com/a/answer/81126); Yahoo Sender
//! Hub, "Sender requirements & recommendations" (senders.yahooinc.com/best-practices); Microsoft,
//! "Strengthening Email Ecosystem: Outlook's New Requirements for High-Volume Senders" (Microsoft
//! Defender for Office 365 blog, April 2025, in force May 5, 2025).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::ReportError;
use crate::checks::dkim::{self, DkimStatus, KeyType};
use crate::checks::dmarc::{DmarcStatus, Policy};
use crate::checks::spf::{MAX_DNS_TERMS, SpfStatus};
use crate::dns::Status;
use crate::output::HostStatus;
use crate::output::columns::ColType::*;
use crate::output::columns::Value::*;
use crate::output::columns::{Column, Row, to_batch};
use crate::pipeline::domain::MAX_EXCHANGES;
use crate::smtp::conn::SmtpStatus;

/// Failed requirement codes (`ready_failed`).
pub const SPF_NONE: &str = "spf-none";
pub const SPF_INVALID: &str = "spf-invalid";
pub const SPF_OVER_LIMIT: &str = "spf-over-limit";
pub const DKIM_NONE: &str = "dkim-none";
pub const DKIM_INVALID: &str = "dkim-invalid";
pub const DKIM_WEAK: &str = "dkim-weak";
pub const DKIM_NO_RSA: &str = "dkim-no-rsa";
pub const DMARC_NONE: &str = "dmarc-none";
pub const DMARC_INVALID: &str = "dmarc-invalid";
pub const MX_FCRDNS: &str = "mx-fcrdns";
pub const MX_NO_STARTTLS: &str = "mx-no-starttls";

/// Requirements that could not be judged (`ready_unknown`).
pub const REQ_SPF: &str = "spf";
pub const REQ_DKIM: &str = "dkim";
pub const REQ_DMARC: &str = "dmarc";
pub const REQ_MX_FCRDNS: &str = "mx-fcrdns";
pub const REQ_MX_STARTTLS: &str = "mx-starttls";

/// A requirement's state for one host or one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    Unknown,
    No,
    Yes,
}

impl Tri {
    fn bits(self) -> u8 {
        match self {
            Tri::Unknown => 0,
            Tri::No => 1,
            Tri::Yes => 2,
        }
    }

    fn from_bits(b: u8) -> Tri {
        match b & 3 {
            1 => Tri::No,
            2 => Tri::Yes,
            _ => Tri::Unknown,
        }
    }

    fn of(v: Option<bool>) -> Tri {
        match v {
            Some(true) => Tri::Yes,
            Some(false) => Tri::No,
            None => Tri::Unknown,
        }
    }
}

/// What readiness needs of one address: FCrDNS and TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    pub fcrdns: Tri,
    /// Named after the column; implicit TLS (port 465, `N/tls`) counts as much as STARTTLS.
    pub starttls: Tri,
}

/// The cells of a hosts row that readiness reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostCells<'a> {
    pub host_status: Option<&'a str>,
    pub fcrdns: Option<bool>,
    pub smtp_status: Option<&'a str>,
    pub starttls: Option<bool>,
    /// `smtp_starttls_error`: the refusal of the STARTTLS command (`454 ...`).
    pub starttls_error: Option<&'a str>,
    pub tls_version: Option<&'a str>,
}

impl HostFacts {
    /// From a hosts row's cells. FCrDNS counts only for a checked host. TLS is judged only where
    /// an SMTP dialogue took place or a handshake failed (`ok`, `tls-error`): see [`tls`].
    pub fn from_cells(c: &HostCells) -> HostFacts {
        let fcrdns = if c.host_status == Some(HostStatus::Ok.as_str()) {
            Tri::of(c.fcrdns)
        } else {
            Tri::Unknown
        };
        HostFacts {
            fcrdns,
            starttls: tls(c),
        }
    }

    fn pack(self) -> u8 {
        self.fcrdns.bits() | self.starttls.bits() << 2
    }

    fn unpack(b: u8) -> HostFacts {
        HostFacts {
            fcrdns: Tri::from_bits(b),
            starttls: Tri::from_bits(b >> 2),
        }
    }
}

/// Addresses to their [`HostFacts`], one byte each (IPv4 keys are 4 bytes): bounded by the
/// number of distinct hosts, millions fit in tens of MB.
#[derive(Debug, Default)]
pub struct HostMap {
    v4: HashMap<u32, u8, ahash::RandomState>,
    v6: HashMap<u128, u8, ahash::RandomState>,
}

impl HostMap {
    /// Inserts the facts of an address not seen before; false (and nothing changes) when it is
    /// known already, so the first row of an address is the one that counts.
    pub fn insert_first(&mut self, ip: IpAddr, facts: HostFacts) -> bool {
        let b = facts.pack();
        match ip {
            IpAddr::V4(a) => insert_new(&mut self.v4, a.into(), b),
            IpAddr::V6(a) => insert_new(&mut self.v6, a.into(), b),
        }
    }

    pub fn get(&self, ip: IpAddr) -> Option<HostFacts> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&u32::from(a)),
            IpAddr::V6(a) => self.v6.get(&u128::from(a)),
        }
        .map(|b| HostFacts::unpack(*b))
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// TLS on the session of a hosts row. A handshake made (`tls_version`) is a yes, whether after
/// STARTTLS or from the first byte on an implicit-TLS port (RFC 8314: 465 offers no STARTTLS, so
/// `starttls` is false there). A failed handshake, STARTTLS not offered, or the STARTTLS command
/// refused (RFC 3207 4: `454 TLS not available`; the mail then goes in clear or waits) is a no.
/// No session (no `--smtp`, an excluded address, refused, timeout, ended before EHLO) or
/// STARTTLS offered but not tried is unknown.
fn tls(c: &HostCells) -> Tri {
    let is = |s: SmtpStatus| c.smtp_status == Some(s.as_str());
    if !(is(SmtpStatus::Ok) || is(SmtpStatus::TlsError)) {
        return Tri::Unknown;
    }
    if c.tls_version.is_some() {
        Tri::Yes
    } else if is(SmtpStatus::TlsError) || c.starttls == Some(false) || c.starttls_error.is_some() {
        Tri::No
    } else {
        Tri::Unknown
    }
}

fn insert_new<K: std::hash::Hash + Eq>(
    m: &mut HashMap<K, u8, ahash::RandomState>,
    k: K,
    b: u8,
) -> bool {
    match m.entry(k) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(b);
            true
        }
    }
}

/// A DKIM key record as readiness sees it.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    pub key_type: Option<&'a str>,
    pub bits: Option<u32>,
    pub usable: bool,
}

impl KeyFacts<'_> {
    fn rsa(&self) -> bool {
        self.key_type
            .is_none_or(|t| t.eq_ignore_ascii_case(KeyType::Rsa.as_str()))
    }

    /// An RSA key under the DKIM check's floor (it marks such a key `weak-key`, unusable).
    pub fn weak(&self) -> bool {
        self.rsa() && self.bits.is_some_and(dkim::is_weak_rsa)
    }
}

/// What readiness needs of one domains row.
#[derive(Debug, Clone, Default)]
pub struct DomainFacts<'a> {
    pub spf_status: Option<&'a str>,
    pub spf_lookups: Option<u32>,
    pub dkim_status: Option<&'a str>,
    pub dkim_keys: Vec<KeyFacts<'a>>,
    pub dmarc_status: Option<&'a str>,
    pub dmarc_effective_p: Option<&'a str>,
    /// Null when the MX query failed.
    pub mx_ips: Option<Vec<&'a str>>,
    /// `ok` when every address lookup of the exchanges was answered.
    pub mx_ips_status: Option<&'a str>,
    /// Exchanges in the MX answer; null when the query failed.
    pub mx_exchanges: Option<usize>,
}

impl DomainFacts<'_> {
    /// `mx_ips` holds the address of every exchange: each lookup answered, and no exchange past
    /// the scan's cap left unlooked-up. Otherwise the addresses it holds are only some of them.
    fn mx_ips_complete(&self) -> bool {
        self.mx_ips_status == Some(Status::Ok.as_str())
            && self.mx_exchanges.is_some_and(|n| n <= MAX_EXCHANGES)
    }
}

/// One domain's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// False as soon as one requirement failed; null when none failed but one is unknown.
    pub ready: Option<bool>,
    pub failed: Vec<&'static str>,
    pub unknown: Vec<&'static str>,
}

enum Judged {
    Pass,
    Fail(&'static str),
    Unknown(&'static str),
}

/// Valid SPF within the lookup limit (Google, Yahoo, Outlook.com: SPF must pass, which a
/// permerror never does; RFC 7208 4.6.4: more than [`MAX_DNS_TERMS`] lookups is a permerror).
fn spf(d: &DomainFacts) -> Judged {
    let is = |s: SpfStatus| d.spf_status == Some(s.as_str());
    if is(SpfStatus::Valid) {
        match d.spf_lookups {
            Some(n) if n <= MAX_DNS_TERMS => Judged::Pass,
            Some(_) => Judged::Fail(SPF_OVER_LIMIT),
            // Not walked (--no-spf-walk): the limit cannot be judged.
            None => Judged::Unknown(REQ_SPF),
        }
    } else if is(SpfStatus::PermError) {
        // The SPF check counts on past the limit, and a tree over it is a permerror whatever
        // else it holds.
        if d.spf_lookups.is_some_and(|n| n > MAX_DNS_TERMS) {
            Judged::Fail(SPF_OVER_LIMIT)
        } else {
            Judged::Fail(SPF_INVALID)
        }
    } else if is(SpfStatus::None) {
        Judged::Fail(SPF_NONE)
    } else {
        Judged::Unknown(REQ_SPF)
    }
}

/// A usable RSA key of at least [`dkim::MIN_RSA_BITS`] under a probed selector. Only the probed
/// selectors can be seen: a domain signing under another selector shows `dkim-none`.
fn dkim(d: &DomainFacts) -> Judged {
    let keys = &d.dkim_keys;
    if keys.iter().any(|k| k.usable && k.rsa() && !k.weak()) {
        return Judged::Pass;
    }
    let is = |s: DkimStatus| d.dkim_status == Some(s.as_str());
    if !(is(DkimStatus::Valid) || is(DkimStatus::Invalid) || is(DkimStatus::None)) {
        // temperror: a key may hide behind the failed query; skipped: not probed.
        return Judged::Unknown(REQ_DKIM);
    }
    if keys.iter().any(KeyFacts::weak) {
        // RFC 8301 3.2: the DKIM check makes these unusable; lengthening the key is the fix.
        Judged::Fail(DKIM_WEAK)
    } else if keys.iter().any(|k| k.usable) {
        // RFC 8463 3: verifiers that do not know Ed25519 ignore its signatures, so signers are
        // told to sign with RSA as well.
        Judged::Fail(DKIM_NO_RSA)
    } else if keys.is_empty() {
        Judged::Fail(DKIM_NONE)
    } else {
        Judged::Fail(DKIM_INVALID)
    }
}

/// A DMARC policy applies, at least `p=none`: the domain's own record or its Organizational
/// Domain's (`dmarc_effective_p` already says which applies, RFC 7489 6.6.3).
fn dmarc(d: &DomainFacts) -> Judged {
    let applies = [Policy::None, Policy::Quarantine, Policy::Reject]
        .iter()
        .any(|p| d.dmarc_effective_p == Some(p.as_str()));
    let is = |s: DmarcStatus| d.dmarc_status == Some(s.as_str());
    if applies {
        Judged::Pass
    } else if is(DmarcStatus::None) {
        Judged::Fail(DMARC_NONE)
    } else if is(DmarcStatus::Valid) || is(DmarcStatus::Invalid) {
        Judged::Fail(DMARC_INVALID)
    } else {
        Judged::Unknown(REQ_DMARC)
    }
}

/// Every MX address has the property; any that has not fails, else any unknown (no hosts row
/// yet, not checked) leaves it unknown, and so do addresses missing from an incomplete `mx_ips`.
/// The MX addresses stand in for the sending hosts, which cannot be seen from outside.
fn all_mx(
    ips: Option<&[&str]>,
    complete: bool,
    hosts: &HostMap,
    get: fn(HostFacts) -> Tri,
    failed: &'static str,
    unknown: &'static str,
) -> Judged {
    let Some(ips) = ips.filter(|i| !i.is_empty()) else {
        return Judged::Unknown(unknown);
    };
    let mut any_unknown = !complete;
    for ip in ips {
        let t = ip
            .parse::<IpAddr>()
            .ok()
            .and_then(|ip| hosts.get(ip))
            .map_or(Tri::Unknown, get);
        match t {
            Tri::No => return Judged::Fail(failed),
            Tri::Unknown => any_unknown = true,
            Tri::Yes => {}
        }
    }
    if any_unknown {
        Judged::Unknown(unknown)
    } else {
        Judged::Pass
    }
}

/// Judges one domain against every requirement.
pub fn judge(d: &DomainFacts, hosts: &HostMap) -> Verdict {
    let (ips, complete) = (d.mx_ips.as_deref(), d.mx_ips_complete());
    let judged = [
        spf(d),
        dkim(d),
        dmarc(d),
        all_mx(ips, complete, hosts, |h| h.fcrdns, MX_FCRDNS, REQ_MX_FCRDNS),
        all_mx(
            ips,
            complete,
            hosts,
            |h| h.starttls,
            MX_NO_STARTTLS,
            REQ_MX_STARTTLS,
        ),
    ];
    let mut v = Verdict {
        ready: None,
        failed: Vec::new(),
        unknown: Vec::new(),
    };
    for j in judged {
        match j {
            Judged::Pass => {}
            Judged::Fail(c) => v.failed.push(c),
            Judged::Unknown(c) => v.unknown.push(c),
        }
    }
    v.ready = if !v.failed.is_empty() {
        Some(false)
    } else if !v.unknown.is_empty() {
        None
    } else {
        Some(true)
    };
    v
}

/// One row of the readiness table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessRow {
    pub domain: String,
    pub ready_bulk_sender: Option<bool>,
    pub ready_failed: Vec<String>,
    pub ready_unknown: Vec<String>,
}

impl ReadinessRow {
    pub fn new(domain: &str, v: &Verdict) -> ReadinessRow {
        ReadinessRow {
            domain: domain.to_owned(),
            ready_bulk_sender: v.ready,
            ready_failed: v.failed.iter().map(|s| s.to_string()).collect(),
            ready_unknown: v.unknown.iter().map(|s| s.to_string()).collect(),
        }
    }
}

type R = Column<ReadinessRow>;

#[rustfmt::skip]
static READINESS_COLUMNS: &[R] = &[
    R::new("domain", Utf8, |r| Str(Some(&r.domain))).required()
        .doc("the domain, as in the domains table"),
    R::new("ready_bulk_sender", Boolean, |r| Bool(r.ready_bulk_sender))
        .doc("meets every requirement below that can be checked from outside: true; false as soon as one failed (`ready_failed`); null when none failed but one could not be judged (`ready_unknown`: a DNS failure, not probed, no hosts row yet, no SMTP results)"),
    R::new("ready_failed", ListUtf8, |r| StrList(Some(&r.ready_failed))).required()
        .doc("failed requirements, in this order: `spf-none`, `spf-invalid` (permerror other than the lookup limit), `spf-over-limit` (more than 10 DNS lookups, RFC 7208 4.6.4); `dkim-none` (no key under a probed selector), `dkim-invalid` (key records, none usable), `dkim-weak` (RSA keys under 1024 bits, which RFC 8301 3.2 makes unusable: the DKIM check's `weak-key`; and no usable RSA key of 1024 bits or more), `dkim-no-rsa` (only Ed25519 keys, which verifiers that do not know them ignore, RFC 8463 3); `dmarc-none` (no record applies, organizational fallback included), `dmarc-invalid`; `mx-fcrdns` (an MX address without forward-confirmed reverse DNS), `mx-no-starttls` (an MX address whose SMTP session made no TLS handshake: STARTTLS not offered, the STARTTLS command refused (`454`, RFC 3207 4), or the handshake failed; implicit TLS on the first `--smtp-ports` port (465, `N/tls`) counts as TLS)"),
    R::new("ready_unknown", ListUtf8, |r| StrList(Some(&r.ready_unknown))).required()
        .doc("requirements that could not be judged: `spf` (temperror, or not walked), `dkim` (temperror without a good key, or `--no-dkim`), `dmarc` (temperror), `mx-fcrdns` and `mx-starttls` (MX query failed, no MX address, an address without a checked hosts row, or `mx_ips` incomplete when no address failed: `mx_ips_status` not `ok`, or more than 16 exchanges; STARTTLS also without `--smtp`, when the session did not reach EHLO, or when STARTTLS was offered and not tried)"),
];

impl Row for ReadinessRow {
    fn columns() -> &'static [Column<Self>] {
        READINESS_COLUMNS
    }
}

/// Writes `readiness/part-00000.parquet` and `readiness.csv`, each under a hidden temporary name
/// renamed on `finish`, so a reader never sees half a table.
pub struct ReadinessWriter {
    parquet: ArrowWriter<File>,
    csv: csv::Writer<BufWriter<File>>,
    tmp: [(PathBuf, PathBuf); 2],
}

impl ReadinessWriter {
    pub fn create(out: &Path) -> Result<ReadinessWriter, ReportError> {
        let dir = out.join("readiness");
        std::fs::create_dir_all(&dir).map_err(|e| ReportError::io(&dir, e))?;
        let pq = dir.join("part-00000.parquet");
        let pq_tmp = dir.join(".part-00000.parquet.tmp");
        let csv_path = out.join("readiness.csv");
        let csv_tmp = out.join(".readiness.csv.tmp");
        let file = File::create(&pq_tmp).map_err(|e| ReportError::io(&pq_tmp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_created_by(format!("mxray {}", env!("CARGO_PKG_VERSION")))
            .build();
        let parquet =
            ArrowWriter::try_new(file, ReadinessRow::schema(), Some(props)).map_err(|source| {
                ReportError::Parquet {
                    path: pq_tmp.clone(),
                    source,
                }
            })?;
        let csv_file = File::create(&csv_tmp).map_err(|e| ReportError::io(&csv_tmp, e))?;
        let mut csv = csv::Writer::from_writer(BufWriter::new(csv_file));
        csv.write_record(READINESS_COLUMNS.iter().map(|c| c.name))
            .map_err(|source| ReportError::Csv {
                path: csv_tmp.clone(),
                source,
            })?;
        Ok(ReadinessWriter {
            parquet,
            csv,
            tmp: [(pq_tmp, pq), (csv_tmp, csv_path)],
        })
    }

    pub fn write(&mut self, rows: &[ReadinessRow]) -> Result<(), ReportError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = to_batch(rows)?;
        self.parquet
            .write(&batch)
            .map_err(|source| ReportError::Parquet {
                path: self.tmp[0].0.clone(),
                source,
            })?;
        for r in rows {
            self.csv
                .write_record(r.csv_record())
                .map_err(|source| ReportError::Csv {
                    path: self.tmp[1].0.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Closes both files and renames them into place; returns the Parquet part's path.
    pub fn finish(mut self) -> Result<PathBuf, ReportError> {
        self.parquet
            .close()
            .map_err(|source| ReportError::Parquet {
                path: self.tmp[0].0.clone(),
                source,
            })?;
        self.csv
            .flush()
            .map_err(|e| ReportError::io(&self.tmp[1].0, e))?;
        for (tmp, path) in &self.tmp {
            std::fs::rename(tmp, path).map_err(|e| ReportError::io(path, e))?;
        }
        Ok(self.tmp[0].1.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(fcrdns: Tri, starttls: Tri) -> HostFacts {
        HostFacts { fcrdns, starttls }
    }

    /// A key record as the DKIM check reads it: what a scan writes in `dkim_keys`.
    fn key(record: String) -> KeyFacts<'static> {
        let k: &'static dkim::DkimKey = Box::leak(Box::new(dkim::parse_key_record(&record)));
        KeyFacts {
            key_type: Some(k.key_type.as_str()),
            bits: k.bits,
            usable: k.usable(),
        }
    }

    /// The lab's RSA keys of 512 (weak), 1024 and 2048 bits.
    fn rsa(bits: u32) -> KeyFacts<'static> {
        use crate::lab::world::{DKIM_RSA_512, DKIM_RSA_1024, DKIM_RSA_2048};
        let p = match bits {
            512 => DKIM_RSA_512,
            1024 => DKIM_RSA_1024,
            2048 => DKIM_RSA_2048,
            _ => unreachable!("no {bits}-bit key in the lab"),
        };
        let k = key(format!("v=DKIM1; k=rsa; p={}", p.trim()));
        assert_eq!(k.bits, Some(bits));
        k
    }

    fn ed25519() -> KeyFacts<'static> {
        let (_, p, _) = crate::lab::world::DKIM_KEYS[2];
        key(format!("v=DKIM1; k=ed25519; p={p}"))
    }

    /// A domain that meets everything, its one MX address 192.0.2.1.
    fn good() -> DomainFacts<'static> {
        DomainFacts {
            spf_status: Some("valid"),
            spf_lookups: Some(3),
            dkim_status: Some("valid"),
            dkim_keys: vec![rsa(2048)],
            dmarc_status: Some("valid"),
            dmarc_effective_p: Some("none"),
            mx_ips: Some(vec!["192.0.2.1"]),
            mx_ips_status: Some("ok"),
            mx_exchanges: Some(1),
        }
    }

    #[test]
    fn the_dkim_check_makes_a_weak_key_unusable() {
        let weak = rsa(512);
        assert!(weak.weak() && !weak.usable, "{weak:?}");
        let k = rsa(1024);
        assert!(!k.weak() && k.usable, "{k:?}");
        assert!(!ed25519().weak() && ed25519().usable);
    }

    fn hosts(facts: HostFacts) -> HostMap {
        let mut m = HostMap::default();
        assert!(m.insert_first("192.0.2.1".parse().unwrap(), facts));
        assert!(m.insert_first("2001:db8::1".parse().unwrap(), host(Tri::Yes, Tri::Yes)));
        m
    }

    #[test]
    fn each_requirement_fails_or_is_unknown_on_its_own() {
        type Edit = fn(&mut DomainFacts<'static>);
        let y = host(Tri::Yes, Tri::Yes);
        // name, change to the good domain, its host, ready, failed, unknown
        type Case = (
            &'static str,
            Edit,
            HostFacts,
            Option<bool>,
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            ("all good", |_| {}, y, Some(true), &[], &[]),
            (
                "no spf",
                |d| d.spf_status = Some("none"),
                y,
                Some(false),
                &[SPF_NONE],
                &[],
            ),
            (
                "spf over limit",
                |d| {
                    d.spf_status = Some("permerror");
                    d.spf_lookups = Some(11);
                },
                y,
                Some(false),
                &[SPF_OVER_LIMIT],
                &[],
            ),
            (
                "spf void limit",
                |d| {
                    d.spf_status = Some("permerror");
                    d.spf_lookups = Some(4);
                },
                y,
                Some(false),
                &[SPF_INVALID],
                &[],
            ),
            (
                "spf temperror",
                |d| d.spf_status = Some("temperror"),
                y,
                None,
                &[],
                &[REQ_SPF],
            ),
            (
                "spf not walked",
                |d| d.spf_lookups = None,
                y,
                None,
                &[],
                &[REQ_SPF],
            ),
            (
                "spf exactly 10",
                |d| d.spf_lookups = Some(10),
                y,
                Some(true),
                &[],
                &[],
            ),
            (
                "no dkim",
                |d| {
                    d.dkim_status = Some("none");
                    d.dkim_keys = vec![];
                },
                y,
                Some(false),
                &[DKIM_NONE],
                &[],
            ),
            (
                "weak dkim: the check's weak-key, so dkim_status invalid",
                |d| {
                    d.dkim_status = Some("invalid");
                    d.dkim_keys = vec![rsa(512)];
                },
                y,
                Some(false),
                &[DKIM_WEAK],
                &[],
            ),
            (
                "weak rsa beside ed25519",
                |d| d.dkim_keys = vec![rsa(512), ed25519()],
                y,
                Some(false),
                &[DKIM_WEAK],
                &[],
            ),
            (
                "1024 is enough",
                |d| d.dkim_keys = vec![rsa(512), rsa(1024)],
                y,
                Some(true),
                &[],
                &[],
            ),
            (
                "revoked only",
                |d| {
                    d.dkim_status = Some("invalid");
                    d.dkim_keys = vec![key("v=DKIM1; k=rsa; p=".into())];
                },
                y,
                Some(false),
                &[DKIM_INVALID],
                &[],
            ),
            (
                "ed25519 only",
                |d| d.dkim_keys = vec![ed25519()],
                y,
                Some(false),
                &[DKIM_NO_RSA],
                &[],
            ),
            (
                "dkim temperror",
                |d| {
                    d.dkim_status = Some("temperror");
                    d.dkim_keys = vec![];
                },
                y,
                None,
                &[],
                &[REQ_DKIM],
            ),
            (
                "dkim temperror but a good key",
                |d| d.dkim_status = Some("temperror"),
                y,
                Some(true),
                &[],
                &[],
            ),
            (
                "dkim skipped",
                |d| {
                    d.dkim_status = Some("skipped");
                    d.dkim_keys = vec![];
                },
                y,
                None,
                &[],
                &[REQ_DKIM],
            ),
            (
                "no dmarc",
                |d| {
                    d.dmarc_status = Some("none");
                    d.dmarc_effective_p = None;
                },
                y,
                Some(false),
                &[DMARC_NONE],
                &[],
            ),
            (
                "organizational dmarc counts",
                |d| {
                    d.dmarc_status = Some("valid");
                    d.dmarc_effective_p = Some("reject");
                },
                y,
                Some(true),
                &[],
                &[],
            ),
            (
                "invalid dmarc",
                |d| {
                    d.dmarc_status = Some("invalid");
                    d.dmarc_effective_p = None;
                },
                y,
                Some(false),
                &[DMARC_INVALID],
                &[],
            ),
            (
                "dmarc temperror",
                |d| {
                    d.dmarc_status = Some("temperror");
                    d.dmarc_effective_p = None;
                },
                y,
                None,
                &[],
                &[REQ_DMARC],
            ),
            (
                "mx without fcrdns",
                |_| {},
                host(Tri::No, Tri::Yes),
                Some(false),
                &[MX_FCRDNS],
                &[],
            ),
            (
                "mx fcrdns unknown",
                |_| {},
                host(Tri::Unknown, Tri::Yes),
                None,
                &[],
                &[REQ_MX_FCRDNS],
            ),
            (
                "mx without starttls",
                |_| {},
                host(Tri::Yes, Tri::No),
                Some(false),
                &[MX_NO_STARTTLS],
                &[],
            ),
            (
                "no smtp results",
                |_| {},
                host(Tri::Yes, Tri::Unknown),
                None,
                &[],
                &[REQ_MX_STARTTLS],
            ),
            (
                "no hosts row yet",
                |d| d.mx_ips = Some(vec!["192.0.2.9"]),
                y,
                None,
                &[],
                &[REQ_MX_FCRDNS, REQ_MX_STARTTLS],
            ),
            (
                "mx query failed",
                |d| d.mx_ips = None,
                y,
                None,
                &[],
                &[REQ_MX_FCRDNS, REQ_MX_STARTTLS],
            ),
            (
                "an exchange's address lookup failed",
                |d| d.mx_ips_status = Some("servfail"),
                y,
                None,
                &[],
                &[REQ_MX_FCRDNS, REQ_MX_STARTTLS],
            ),
            (
                "exchanges past the cap",
                |d| d.mx_exchanges = Some(MAX_EXCHANGES + 1),
                y,
                None,
                &[],
                &[REQ_MX_FCRDNS, REQ_MX_STARTTLS],
            ),
            (
                "exactly the cap",
                |d| d.mx_exchanges = Some(MAX_EXCHANGES),
                y,
                Some(true),
                &[],
                &[],
            ),
            (
                "no mx_ips_status (a scan before the column)",
                |d| d.mx_ips_status = None,
                y,
                None,
                &[],
                &[REQ_MX_FCRDNS, REQ_MX_STARTTLS],
            ),
            (
                "incomplete, and an address known to fail",
                |d| d.mx_ips_status = Some("timeout"),
                host(Tri::No, Tri::Yes),
                Some(false),
                &[MX_FCRDNS],
                &[REQ_MX_STARTTLS],
            ),
            (
                "one bad address of two fails",
                |d| d.mx_ips = Some(vec!["2001:db8::1", "192.0.2.1"]),
                host(Tri::No, Tri::Yes),
                Some(false),
                &[MX_FCRDNS],
                &[],
            ),
            (
                "a failure wins over an unknown",
                |d| {
                    d.spf_status = Some("none");
                    d.dmarc_status = Some("temperror");
                    d.dmarc_effective_p = None;
                },
                y,
                Some(false),
                &[SPF_NONE],
                &[REQ_DMARC],
            ),
        ];
        for (name, edit, h, ready, failed, unknown) in cases {
            let mut d = good();
            edit(&mut d);
            let v = judge(&d, &hosts(h));
            assert_eq!(v.ready, ready, "{name}");
            assert_eq!(v.failed, failed, "{name}");
            assert_eq!(v.unknown, unknown, "{name}");
        }
    }

    #[test]
    fn host_facts_from_cells() {
        use Tri::*;
        let ok = Some("ok");
        let v13 = Some("TLSv1.3");
        let refused = Some("454 4.7.0 TLS not available due to temporary reason");
        let cases = [
            // host_status, fcrdns, smtp_status, starttls, smtp_starttls_error, tls_version
            //   -> fcrdns, tls
            ((ok, Some(true), None, None, None, None), (Yes, Unknown)),
            ((ok, None, None, None, None, None), (Unknown, Unknown)),
            (
                (Some("skipped"), None, Some("skipped"), None, None, None),
                (Unknown, Unknown),
            ),
            ((ok, Some(false), ok, Some(true), None, v13), (No, Yes)),
            ((ok, Some(true), ok, Some(false), None, None), (Yes, No)),
            // STARTTLS offered, the handshake failed.
            (
                (ok, Some(true), Some("tls-error"), Some(true), None, None),
                (Yes, No),
            ),
            // Implicit TLS (465): no STARTTLS in the EHLO reply, a handshake made first.
            ((ok, Some(true), ok, Some(false), None, v13), (Yes, Yes)),
            // Implicit TLS whose handshake failed: the session ended before EHLO.
            (
                (ok, Some(true), Some("tls-error"), None, None, None),
                (Yes, No),
            ),
            // STARTTLS offered and refused (RFC 3207 4: 454).
            ((ok, Some(true), ok, Some(true), refused, None), (Yes, No)),
            // STARTTLS offered and not tried.
            ((ok, Some(true), ok, Some(true), None, None), (Yes, Unknown)),
            // Old TLS only, made through the second handshake.
            (
                (ok, Some(true), ok, Some(true), None, Some("TLSv1")),
                (Yes, Yes),
            ),
            (
                (ok, Some(true), Some("timeout"), None, None, None),
                (Yes, Unknown),
            ),
            (
                (ok, Some(true), Some("refused"), None, None, None),
                (Yes, Unknown),
            ),
            // A 421 greeting: a dialogue, ended before EHLO.
            ((ok, Some(true), ok, None, None, None), (Yes, Unknown)),
        ];
        for ((hs, f, ss, st, se, tv), (wf, ws)) in cases {
            let h = HostFacts::from_cells(&HostCells {
                host_status: hs,
                fcrdns: f,
                smtp_status: ss,
                starttls: st,
                starttls_error: se,
                tls_version: tv,
            });
            assert_eq!(
                (h.fcrdns, h.starttls),
                (wf, ws),
                "{hs:?} {f:?} {ss:?} {st:?} {se:?} {tv:?}"
            );
            assert_eq!(HostFacts::unpack(h.pack()), h);
        }
    }

    #[test]
    fn the_first_row_of_an_address_counts() {
        let mut m = HostMap::default();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(m.insert_first(ip, host(Tri::Yes, Tri::No)));
        assert!(!m.insert_first(ip, host(Tri::No, Tri::No)));
        assert_eq!(m.get(ip), Some(host(Tri::Yes, Tri::No)));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn the_table_is_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ReadinessWriter::create(dir.path()).unwrap();
        let v = judge(&good(), &hosts(host(Tri::Yes, Tri::Unknown)));
        w.write(&[ReadinessRow::new("a.example", &v)]).unwrap();
        let path = w.finish().unwrap();
        let f = File::open(&path).unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = r.map(Result::unwrap).collect();
        assert_eq!(batches[0].num_rows(), 1);
        assert_eq!(batches[0].schema(), ReadinessRow::schema());
        let csv = std::fs::read_to_string(dir.path().join("readiness.csv")).unwrap();
        assert_eq!(
            csv,
            "domain,ready_bulk_sender,ready_failed,ready_unknown\na.example,,,mx-starttls\n"
        );
    }
}
