//! The `Store` backends: where messages, their events, providers and statistics are kept.
//!
//! The embedded SQLite store is the default: one file under the data directory, nothing to run
//! beside smsgate. Every backend answers to the same contract checks in `contract`.

#[cfg(test)]
pub mod contract;
pub mod embedded;

pub use embedded::EmbeddedStore;
