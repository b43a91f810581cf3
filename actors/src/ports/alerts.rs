//! What the Alerts actor needs from the outside: a log of every alert notice (persisted history)
//! and the sinks that tell a person.

use crate::{
    alerts::{Alert, AlertQuery, AlertRule},
    ports::StoreError,
};
use async_trait::async_trait;
use std::sync::Arc;

/// The persisted history of alert notices, kept apart from the message `Store` so that a
/// backend adds it without touching that trait.
#[async_trait]
pub trait AlertLog: Send + Sync {
    /// Stores one notice; storing the same (`id`, `notice`) twice keeps one.
    async fn record_alert(&self, alert: &Alert) -> Result<(), StoreError>;
    /// Notices newest first, filtered by `query`.
    async fn alert_history(&self, query: &AlertQuery) -> Result<Vec<Alert>, StoreError>;
}

/// Somewhere a notice is sent (a webhook, a chat). `notify` must return at once: delivery runs
/// in the sink's own task, so a slow or dead receiver never stalls the Alerts actor.
pub trait AlertSink: Send + Sync {
    fn notify(&self, alert: Arc<Alert>);
    /// How many alerts of `rule` are firing, after each evaluation (every rule, every tick), so
    /// a gauge stays right across restarts. Must return at once; most sinks ignore it.
    fn firing(&self, _rule: AlertRule, _count: usize) {}
}
