//! smsgate: the service around the engine — its adapters and its composition root.
//!
//! # Layout
//! - [`store`]: the `Store` backends; the embedded SQLite store is the default.

pub mod store;
