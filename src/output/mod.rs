//! Output: one schema per table (the contract in docs/SCHEMA.md), record batches, Parquet part files
//! and CSV written as the scan goes, and the run manifest.
//!
//! Each flush writes one complete Parquet file (`part-NNNNN.parquet`, one row group, zstd), first
//! under a hidden temporary name and then renamed, so `read_parquet('OUT/domains/*.parquet')` only
//! ever sees whole files, during the scan and after a crash alike.

pub mod columns;
pub mod rows;
#[cfg(test)]
mod schema_doc;
pub mod status;
pub mod writer;

pub use columns::{ColType, Column, Row, Value};
pub use rows::{DkimKeyRow, DomainRow, HostRow, RecipientRow};
pub use status::{Checked, DomainStatus, HostStatus, StsPolicyStatus};
pub use writer::{Formats, Table, TableWriter, WriterOptions, WriterStats, WrittenSoFar};
