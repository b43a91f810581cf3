//! Allowances counted in the store that several instances share (MongoDB), so a limit holds for
//! all of them together instead of once per instance. Counted per fixed window: a counter per
//! key and window, added to atomically, kept until its window is over.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use smsgate_actors::ports::StoreError;
use std::time::Duration;

/// Counters shared by every instance.
#[async_trait]
pub trait SharedCounters: Send + Sync + 'static {
    /// Adds `amount` (which may be negative) to the counter `key`, created at 0 when missing and
    /// kept at least until `expires`, and returns its total after the addition.
    async fn add(&self, key: &str, amount: i64, expires: DateTime<Utc>) -> Result<i64, StoreError>;
}

/// One window of a fixed length: which one `now` falls in, and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    index: i64,
    end: DateTime<Utc>,
}

impl Window {
    pub(super) fn of(length: Duration, now: DateTime<Utc>) -> Self {
        let length_ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX).max(1);
        let index = now.timestamp_millis().div_euclid(length_ms);
        let end = Utc
            .timestamp_millis_opt(index.saturating_add(1).saturating_mul(length_ms))
            .single()
            .unwrap_or(now);
        Self { index, end }
    }

    fn key(&self, kind: &str, key: &str) -> String {
        format!("{kind}\u{1f}{key}\u{1f}{}", self.index)
    }

    fn left(&self, now: DateTime<Utc>) -> Duration {
        (self.end - now).to_std().unwrap_or(Duration::ZERO)
    }
}

/// Takes `amount` of `limit` in `key`'s counter for this window: `Ok(None)` when it fit,
/// `Ok(Some(wait))` when it did not (nothing is kept then), until the window ends.
pub(super) async fn take(
    counters: &dyn SharedCounters,
    kind: &str,
    key: &str,
    amount: i64,
    limit: i64,
    window: Window,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, StoreError> {
    let name = window.key(kind, key);
    let total = counters.add(&name, amount, window.end).await?;
    if total <= limit {
        return Ok(None);
    }
    counters.add(&name, -amount, window.end).await?;
    Ok(Some(window.left(now)))
}

/// Gives back what `take` took in this window.
pub(super) async fn give_back(
    counters: &dyn SharedCounters,
    kind: &str,
    key: &str,
    amount: i64,
    window: Window,
) -> Result<(), StoreError> {
    counters
        .add(&window.key(kind, key), -amount, window.end)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_knows_its_end() {
        let now = Utc.timestamp_millis_opt(7_300_500).single().unwrap();
        let hour = Window::of(Duration::from_secs(3600), now);
        assert_eq!(hour.end.timestamp_millis(), 7_200_000 + 3_600_000);
        assert_eq!(hour.left(now), Duration::from_millis(3_499_500));
        assert_eq!(hour.key("r", "+40755"), "r\u{1f}+40755\u{1f}2");
    }
}
