//! The `Store` backends: where messages, their events, providers and statistics are kept.
//!
//! The embedded SQLite store is the default: one file under the data directory, nothing to run
//! beside smsgate. MongoDB (`mongo`) is the production backend, which several instances can
//! share. Every backend answers to the same contract checks in `contract`.

#[cfg(test)]
pub mod contract;
mod decode;
pub mod embedded;
pub mod mongo;

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;
