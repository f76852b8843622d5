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
