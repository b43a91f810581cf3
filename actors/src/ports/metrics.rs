//! The metrics port: the engine reports what happened, `src` turns it into prometheus series.

use crate::domain::{MessageStatus, MessageType};
use std::time::Duration;

pub trait EngineMetrics: Send + Sync + 'static {
    /// A message changed status (stored).
    fn message_status(
        &self,
        provider: Option<&str>,
        message_type: MessageType,
        status: MessageStatus,
    );
    /// A provider call finished; `error` is the normalised kind's name when it failed.
    fn provider_call(
        &self,
        provider: &str,
        operation: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    );
    /// Messages waiting for a provider slot, per lane.
    fn queue_depth(&self, message_type: MessageType, depth: usize);
    /// Provider calls in flight.
    fn in_flight(&self, provider: &str, count: usize);
    /// A provider's circuit state: 0 closed, 1 half-open, 2 open.
    fn circuit_state(&self, provider: &str, state: u8);
    /// A provider's remaining credit, in cents.
    fn credit(&self, provider: &str, cents: f64);
    /// A stored delivery: how long it took from SENT to DELIVERED. Defaults to nothing, so a
    /// recorder that does not keep it need not say so.
    fn delivery_time(&self, _provider: &str, _message_type: MessageType, _elapsed: Duration) {}
}

/// For tests and tools that do not scrape.
pub struct NoMetrics;

impl EngineMetrics for NoMetrics {
    fn message_status(&self, _: Option<&str>, _: MessageType, _: MessageStatus) {}
    fn provider_call(&self, _: &str, _: &'static str, _: Duration, _: Option<&'static str>) {}
    fn queue_depth(&self, _: MessageType, _: usize) {}
    fn in_flight(&self, _: &str, _: usize) {}
    fn circuit_state(&self, _: &str, _: u8) {}
    fn credit(&self, _: &str, _: f64) {}
}
