//! Decisions as pure functions and small state machines, so they are tested without actors or time.

pub mod backoff;
pub mod breaker;
pub mod selection;
