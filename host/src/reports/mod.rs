//! Reports over a date range, computed from stored records: the CSAT
//! report and the summary. The desk reads the records
//! ([`desk`](crate::desk)'s reporting); this module only counts.

pub mod csat;
mod summary;

pub use summary::{Summary, summary};
