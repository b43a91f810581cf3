//! Per provider, per hour, per message type counters: what the Logger adds up in each commit,
//! what the stores keep, and how rows fold into the figures the API answers with.
//!
//! A row is one UTC hour; a day's figures are its hours added up, so DAY and HOUR grouping both
//! come from the same stored rows. Every counter only adds (the delivery times too, as a sum and
//! a histogram), so rows merge exactly however they are grouped.

pub mod histogram;

use super::{
    message::{Message, MessageType},
    money::Money,
    MessageEvent, MessageStatus,
};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
pub use histogram::DeliveryHistogram;

/// Counts to add to one (day, hour, provider, type) row; several deltas for the same key add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    pub day: NaiveDate,
    /// The UTC hour of the day, 0 to 23.
    pub hour: u32,
    pub provider: String,
    pub message_type: MessageType,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub cost: Money,
    /// Sum of SENT→DELIVERED times, so that averages stay exact when rows are merged.
    pub delivery_ms_sum: i64,
    pub delivery_count: i64,
    /// The same delivery times by bucket, so that a p95 survives merging too.
    pub delivery_histogram: DeliveryHistogram,
}

impl StatsDelta {
    /// An empty row for hour 0 of `day`; see `at` for the row of a moment.
    pub fn empty(day: NaiveDate, provider: String, message_type: MessageType) -> Self {
        Self {
            day,
            hour: 0,
            provider,
            message_type,
            sent: 0,
            delivered: 0,
            failed: 0,
            cost: Money::ZERO,
            delivery_ms_sum: 0,
            delivery_count: 0,
            delivery_histogram: DeliveryHistogram::default(),
        }
    }

    /// An empty row for the UTC hour `at` falls in.
    pub fn at(at: DateTime<Utc>, provider: String, message_type: MessageType) -> Self {
        Self {
            hour: at.hour(),
            ..Self::empty(at.date_naive(), provider, message_type)
        }
    }

    /// One delivery that took `ms` milliseconds.
    pub fn record_delivery(&mut self, ms: i64) {
        let ms = ms.max(0);
        self.delivery_ms_sum += ms;
        self.delivery_count += 1;
        self.delivery_histogram
            .merge(&DeliveryHistogram::single(ms));
    }

    /// The start of the row's hour.
    pub fn hour_start(&self) -> DateTime<Utc> {
        hour_start(self.day, self.hour)
    }

    pub fn same_row(&self, other: &StatsDelta) -> bool {
        self.day == other.day
            && self.hour == other.hour
            && self.provider == other.provider
            && self.message_type == other.message_type
    }

    pub fn merge(&mut self, other: &StatsDelta) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.cost += other.cost;
        self.delivery_ms_sum += other.delivery_ms_sum;
        self.delivery_count += other.delivery_count;
        self.delivery_histogram.merge(&other.delivery_histogram);
    }

    pub fn is_empty(&self) -> bool {
        self.sent == 0
            && self.delivered == 0
            && self.failed == 0
            && self.cost == Money::ZERO
            && self.delivery_count == 0
            && self.delivery_histogram.is_empty()
    }
}

/// The start of hour `hour` (0 to 23) of `day`, UTC.
pub fn hour_start(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&day.and_time(time))
}

/// Rows added up into one list, one entry per row key, sorted by day, hour, provider, type.
/// Deltas for the same row merge; empty ones are dropped.
pub fn merge_rows(rows: impl IntoIterator<Item = StatsDelta>) -> Vec<StatsDelta> {
    let mut by_key: std::collections::BTreeMap<(NaiveDate, u32, String, &'static str), StatsDelta> =
        std::collections::BTreeMap::new();
    for row in rows {
        by_key
            .entry((
                row.day,
                row.hour,
                row.provider.clone(),
                row.message_type.as_str(),
            ))
            .and_modify(|acc| acc.merge(&row))
            .or_insert(row);
    }
    by_key.into_values().filter(|d| !d.is_empty()).collect()
}

/// What one stored event adds to the statistics, counted in the UTC hour of the event and for
/// the provider the event names (the one the message was with at that moment). Costs count when
/// the provider accepts the message (SENT, or the receipt when it came first); failures count once, when the message reaches a final
/// failed state; a delivery adds its SENT→DELIVERED time.
///
/// `message` may be the snapshot written with the event (the Logger) or the message as stored
/// later (a rebuild): the fields read here (cost, sent and delivered times) do not change once
/// the event that counts them has happened, so both give the same figures.
pub fn event_delta(message: &Message, event: &MessageEvent) -> Option<StatsDelta> {
    let provider = event.provider.clone()?;
    let mut delta = StatsDelta::at(event.at, provider, message.message_type);
    match event.status {
        MessageStatus::Sent => {
            delta.sent = 1;
            delta.cost = message.cost.unwrap_or_default();
        }
        MessageStatus::Delivered => {
            delta.delivered = 1;
            // Whole milliseconds of each end, as MongoDB keeps them, so a rebuild from either
            // store gives the figures the Logger added.
            if let (Some(sent), Some(delivered)) = (message.sent_at, message.delivered_at) {
                delta.record_delivery(delivered.timestamp_millis() - sent.timestamp_millis());
            }
        }
        MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Expired => {
            delta.failed = 1;
        }
        MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Retrying => return None,
    }
    // The Router holds a receipt that overtakes the provider's answer until SENT; only when that
    // answer then fails does the receipt move the message from SENDING straight to its outcome.
    // The provider did accept it, so it counts as sent here, once.
    let receipt_first = matches!(
        event.status,
        MessageStatus::Delivered | MessageStatus::Undelivered
    ) && !message
        .events
        .iter()
        .any(|e| e.status == MessageStatus::Sent);
    if receipt_first {
        delta.sent = 1;
        delta.cost = message.cost.unwrap_or_default();
    }
    Some(delta)
}

/// A day's rows computed from the logs: every event of `messages` that happened on `day`.
pub fn rows_for_day<'a>(
    day: NaiveDate,
    messages: impl IntoIterator<Item = &'a Message>,
) -> Vec<StatsDelta> {
    merge_rows(messages.into_iter().flat_map(|m| {
        m.events
            .iter()
            .filter(|e| e.at.date_naive() == day)
            .filter_map(move |e| event_delta(m, e))
    }))
}

/// What a rebuild found: a day's rows as they were stored and as the logs have them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRebuild {
    pub day: NaiveDate,
    /// Merged and sorted like `merge_rows`.
    pub before: Vec<StatsDelta>,
    pub after: Vec<StatsDelta>,
}

/// A bucket's figures for one provider: a day or an hour, one message type or all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyStats {
    pub day: NaiveDate,
    /// The bucket's start when grouped by hour.
    pub hour: Option<DateTime<Utc>>,
    pub provider: String,
    /// Set when grouped by type or filtered to one type.
    pub message_type: Option<MessageType>,
    pub sent_count: i64,
    pub delivered_count: i64,
    pub failed_count: i64,
    pub total_cost: Money,
    pub avg_delivery_ms: Option<f64>,
    /// At the histogram's resolution (see `histogram`): never below the true p95.
    pub p95_delivery_ms: Option<i64>,
}

/// How figures are bucketed in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatsGroupBy {
    #[default]
    Day,
    Hour,
}

/// Days from `from` to `to`, both included (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub provider: Option<String>,
    pub message_type: Option<MessageType>,
    pub group_by: StatsGroupBy,
    /// One figure per message type instead of all types together.
    pub by_type: bool,
}

impl StatsQuery {
    /// Every provider and type, one figure per provider per day.
    pub fn days(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            from,
            to,
            provider: None,
            message_type: None,
            group_by: StatsGroupBy::Day,
            by_type: false,
        }
    }

    /// Whether a stored row is within the query (range, provider, type).
    pub fn matches(&self, row: &StatsDelta) -> bool {
        row.day >= self.from
            && row.day <= self.to
            && self.provider.as_ref().is_none_or(|p| *p == row.provider)
            && self.message_type.is_none_or(|t| t == row.message_type)
    }

    /// Whether answers name a message type.
    pub fn shows_type(&self) -> bool {
        self.by_type || self.message_type.is_some()
    }
}

/// Folds rows into one figure per (bucket, provider[, type]) as the query groups them, sorted by
/// bucket, provider, type.
pub fn summarize(
    rows: impl IntoIterator<Item = StatsDelta>,
    query: &StatsQuery,
) -> Vec<DailyStats> {
    type Key = (NaiveDate, u32, String, Option<&'static str>);
    let mut by_key: std::collections::BTreeMap<Key, StatsDelta> = std::collections::BTreeMap::new();
    for row in rows.into_iter().filter(|r| query.matches(r)) {
        let hour = match query.group_by {
            StatsGroupBy::Day => 0,
            StatsGroupBy::Hour => row.hour,
        };
        let kind = query.shows_type().then(|| row.message_type.as_str());
        by_key
            .entry((row.day, hour, row.provider.clone(), kind))
            .and_modify(|acc| acc.merge(&row))
            .or_insert(StatsDelta { hour, ..row });
    }
    by_key
        .into_values()
        .map(|d| DailyStats {
            day: d.day,
            hour: (query.group_by == StatsGroupBy::Hour).then(|| d.hour_start()),
            provider: d.provider,
            message_type: query.shows_type().then_some(d.message_type),
            sent_count: d.sent,
            delivered_count: d.delivered,
            failed_count: d.failed,
            total_cost: d.cost,
            avg_delivery_ms: (d.delivery_count > 0)
                .then(|| d.delivery_ms_sum as f64 / d.delivery_count as f64),
            p95_delivery_ms: d.delivery_histogram.quantile_ms(0.95),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: u32, hour: u32, provider: &str, t: MessageType) -> StatsDelta {
        let day = NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default();
        StatsDelta {
            hour,
            ..StatsDelta::empty(day, provider.into(), t)
        }
    }

    #[test]
    fn a_day_is_its_hours_added_up_and_hours_stay_apart_when_asked() {
        let mut a = row(24, 9, "smso", MessageType::Otp);
        a.sent = 2;
        a.record_delivery(150);
        let mut b = row(24, 17, "smso", MessageType::Marketing);
        b.sent = 1;
        b.failed = 1;
        b.record_delivery(3_000);
        let mut q = StatsQuery::days(a.day, a.day);
        let days = summarize([a.clone(), b.clone()], &q);
        assert_eq!(days.len(), 1);
        assert_eq!((days[0].sent_count, days[0].failed_count), (3, 1));
        assert_eq!(days[0].avg_delivery_ms, Some(1_575.0));
        assert_eq!(days[0].p95_delivery_ms, Some(3_200));
        assert_eq!((days[0].hour, days[0].message_type), (None, None));

        q.group_by = StatsGroupBy::Hour;
        let hours = summarize([a.clone(), b.clone()], &q);
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].hour, Some(hour_start(a.day, 9)));
        assert_eq!(hours[0].p95_delivery_ms, Some(200));

        q.group_by = StatsGroupBy::Day;
        q.message_type = Some(MessageType::Marketing);
        let marketing = summarize([a, b], &q);
        assert_eq!(marketing.len(), 1);
        assert_eq!(marketing[0].message_type, Some(MessageType::Marketing));
        assert_eq!(marketing[0].sent_count, 1);
    }

    #[test]
    fn a_receipt_that_overtakes_the_answer_counts_the_message_as_sent_once() {
        use crate::domain::{message::Message, MessageId, E164};
        let at = Utc::now();
        let mut m = Message {
            id: MessageId::generate(),
            to: E164::from_stored("+40755123456".into()),
            body: "x".into(),
            message_type: MessageType::Otp,
            sender: None,
            pinned_provider: None,
            idempotency_key: None,
            sent_by: None,
            status: MessageStatus::Queued,
            provider: Some("smso".into()),
            provider_message_id: None,
            encoding: crate::domain::Encoding::Gsm7,
            segments: 1,
            cost: Some(Money::from_cents(2.0)),
            attempts: 1,
            error: None,
            created_at: at,
            updated_at: at,
            sent_at: None,
            delivered_at: None,
            expires_at: at,
            events: Vec::new(),
        };
        m.transition(MessageStatus::Sending, at, None).ok();
        let straight = m
            .transition(MessageStatus::Delivered, at, None)
            .ok()
            .cloned();
        let delta = event_delta(&m, &straight.unwrap_or_else(|| unreachable!()))
            .unwrap_or_else(|| unreachable!());
        assert_eq!((delta.sent, delta.delivered), (1, 1));
        assert_eq!(delta.cost, Money::from_cents(2.0));
    }
}
