//! Pure functions from fetched records to findings. No I/O here: the stages fetch, the checks
//! judge, so every rule is testable with literal records.

pub mod dmarc;
pub mod mx;
pub mod spf_select;
