//! The smsgate engine: domain types, the ports it needs (providers, store, metrics) and the
//! ractor actor tree that accepts, routes, sends, tracks and counts messages.
pub mod domain;
pub mod error;
pub mod ports;

pub use error::EngineError;
