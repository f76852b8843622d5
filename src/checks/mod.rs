//! Pure functions from fetched records to findings. No I/O here: the stages fetch, the checks
//! judge, so every rule is testable with literal records. (SPF walks an include tree, so it asks
//! for records through the [`spf::SpfDns`] trait, which the pipeline implements over the cache.)

pub mod asn;
pub mod bimi;
pub mod dane;
pub mod dangling;
pub mod dkim;
pub mod dmarc;
pub mod dnsbl;
pub mod mta_sts;
pub mod mx;
pub mod mx_policy;
pub mod problem;
pub mod rdns;
pub mod rpki;
pub mod smtp;
pub mod soa;
pub mod spf;
pub mod taglist;
pub mod tls_rpt;
pub mod txt_policies;

use crate::columns::Column;
use crate::dns::{Answer, Status};

/// What one DNS lookup gave a check: the input of every check, whatever asked the question (the
/// scan's cache, a test's map). Names are lowercase ASCII, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Records(Vec<T>),
    NoData,
    NxDomain,
    /// servfail, timeout, refused, network error: the resolver's account of it.
    TempError(String),
}

impl<T> Lookup<T> {
    /// The one adapter from the engine's answers: `records` picks the asked type's data.
    pub fn from_answer(a: &Answer, records: impl FnOnce(&Answer) -> Vec<T>) -> Lookup<T> {
        match a.status {
            Status::Ok => Lookup::Records(records(a)),
            Status::NoData => Lookup::NoData,
            Status::NxDomain => Lookup::NxDomain,
            _ => Lookup::TempError(a.describe()),
        }
    }

    /// RFC 7208 4.6.4: a "void lookup" is an answer with no records, either
    /// NOERROR/NODATA or NXDOMAIN.
    pub fn is_void(&self) -> bool {
        match self {
            Lookup::NoData | Lookup::NxDomain => true,
            Lookup::Records(r) => r.is_empty(),
            Lookup::TempError(_) => false,
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Lookup::TempError(_))
    }

    /// The records; none for NODATA, NXDOMAIN and failures.
    pub fn records(&self) -> &[T] {
        match self {
            Lookup::Records(r) => r,
            _ => &[],
        }
    }
}

/// What the TXT answer at a policy name holds for that policy, after discarding the records of
/// other kinds (RFC 7489 6.6.3, RFC 8461 3.1 and RFC 8460 3 all want exactly one; several mean
/// none applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The name does not exist (RFC 8020: nor does anything below it).
    NxDomain,
    /// No record of the kind: NODATA, or only other TXT records.
    None,
    One(String),
    Multiple(Vec<String>),
    /// The lookup failed; the resolver's account of it.
    TempError(String),
}

/// Keeps the TXT records that `is_record` accepts and says how many there are.
pub fn select_records(answer: &Lookup<String>, is_record: impl Fn(&str) -> bool) -> Selection {
    match answer {
        Lookup::NxDomain => Selection::NxDomain,
        Lookup::TempError(reason) => Selection::TempError(reason.clone()),
        Lookup::NoData | Lookup::Records(_) => {
            let mut kept: Vec<String> = answer
                .records()
                .iter()
                .filter(|r| is_record(r))
                .cloned()
                .collect();
            match kept.len() {
                0 => Selection::None,
                1 => Selection::One(kept.remove(0)),
                _ => {
                    // Sorted: a resolver may rotate an RRset's order from answer to answer, and
                    // the raw column keeps the first, so two scans of one zone write one value.
                    kept.sort_unstable();
                    Selection::Multiple(kept)
                }
            }
        }
    }
}

/// A policy published as one TXT record at a fixed name: DMARC (RFC 7489 6.6.3), MTA-STS
/// (RFC 8461 3.1), TLS-RPT (RFC 8460 3), BIMI. Its findings say what each outcome of the lookup
/// means, so the selection is done once, here, for all of them.
pub trait TxtPolicy: Sized {
    /// A TXT record of this policy's kind (the others at the name are discarded).
    fn is_record(txt: &str) -> bool;
    /// No record.
    fn none() -> Self;
    /// The name does not exist: no record either, unless the policy tells the two apart.
    fn nxdomain() -> Self {
        Self::none()
    }
    /// The lookup failed; `reason` names the query and the resolver's account of it.
    fn temperror(reason: &str) -> Self;
    /// The one record.
    fn one(record: String) -> Self;
    /// Several records, of which none applies.
    fn multiple(records: Vec<String>) -> Self;

    /// The findings for the TXT answer at `name`.
    fn from_lookup(name: &str, answer: &Lookup<String>) -> Self {
        match select_records(answer, Self::is_record) {
            Selection::NxDomain => Self::nxdomain(),
            Selection::None => Self::none(),
            Selection::One(r) => Self::one(r),
            Selection::Multiple(rs) => Self::multiple(rs),
            Selection::TempError(reason) => Self::temperror(&format!("{name} TXT {reason}")),
        }
    }
}

/// A TXT policy that the domain stage looks up at its fixed name and writes as columns of its own:
/// its findings are its columns. The list of them ([`txt_policies`]) asks, judges and writes
/// each; a new one is a file here and a line there.
pub trait TxtPolicyCheck:
    TxtPolicy + std::fmt::Debug + Clone + PartialEq + Send + Sync + 'static
{
    /// Where `domain` publishes it (lowercase, no trailing dot).
    fn query_name(domain: &str) -> String;
    /// Its columns over its findings, in the order the domain table shows them. A status column
    /// is required (a failed probe's row says `error` in it); every other column is null in
    /// that row.
    fn columns() -> Vec<Column<Self>>;
    /// What the domain's DMARC outcome changes in the findings (BIMI is ignored by receivers
    /// without an enforcing DMARC policy). Default: nothing.
    fn with_dmarc(&mut self, _dmarc: &dmarc::DmarcFindings) {}
}

/// The outcome of looking up one policy record (DMARC, MTA-STS, TLS-RPT): the columns' closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// No record (NXDOMAIN and NODATA included).
    None,
    Valid,
    /// A record was found but none applies: invalid, or several where one is required.
    Invalid,
    /// The DNS lookup failed; the policy is unknown.
    TempError,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::None => "none",
            RecordStatus::Valid => "valid",
            RecordStatus::Invalid => "invalid",
            RecordStatus::TempError => "temperror",
        }
    }
}
