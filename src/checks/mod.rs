//! Pure functions from fetched records to findings. No I/O here: the stages fetch, the checks
//! judge, so every rule is testable with literal records. (SPF walks an include tree, so it asks
//! for records through the [`spf::SpfDns`] trait, which the pipeline implements over the cache.)

pub mod asn;
pub mod bimi;
pub mod dkim;
pub mod dmarc;
pub mod dnsbl;
pub mod mta_sts;
pub mod mx;
pub mod mx_policy;
pub mod soa;
pub mod spf;
pub mod tls_rpt;

/// The records of one kind at a name, after discarding the others (RFC 7489 6.6.3, RFC 8461 3.1
/// and RFC 8460 3 all want exactly one; several mean none applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    None,
    One(String),
    Multiple(Vec<String>),
}

/// Keeps the TXT records that `is_record` accepts and says how many there are.
pub fn select_records(records: &[String], is_record: impl Fn(&str) -> bool) -> Selection {
    let mut kept: Vec<String> = records.iter().filter(|r| is_record(r)).cloned().collect();
    match kept.len() {
        0 => Selection::None,
        1 => Selection::One(kept.remove(0)),
        _ => Selection::Multiple(kept),
    }
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
