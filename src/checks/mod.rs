//! Pure functions from fetched records to findings. No I/O here: the stages fetch, the checks
//! judge, so every rule is testable with literal records. (SPF walks an include tree, so it asks
//! for records through the [`spf::SpfDns`] trait, which the pipeline implements over the cache.)

pub mod asn;
pub mod dmarc;
pub mod dnsbl;
pub mod mx;
pub mod spf;
