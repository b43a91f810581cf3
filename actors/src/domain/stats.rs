//! Per provider, per day, per message type counters: what the Stats actor adds up and stores.

use super::{message::MessageType, money::Money};
use chrono::NaiveDate;

/// Counts to add to one (day, provider, type) row; several deltas for the same key add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    pub day: NaiveDate,
    pub provider: String,
    pub message_type: MessageType,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub cost: Money,
    /// Sum of SENT→DELIVERED times, so that averages stay exact when rows are merged.
    pub delivery_ms_sum: i64,
    pub delivery_count: i64,
}

impl StatsDelta {
    pub fn empty(day: NaiveDate, provider: String, message_type: MessageType) -> Self {
        Self {
            day,
            provider,
            message_type,
            sent: 0,
            delivered: 0,
            failed: 0,
            cost: Money::ZERO,
            delivery_ms_sum: 0,
            delivery_count: 0,
        }
    }

    pub fn merge(&mut self, other: &StatsDelta) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.cost += other.cost;
        self.delivery_ms_sum += other.delivery_ms_sum;
        self.delivery_count += other.delivery_count;
    }

    pub fn is_empty(&self) -> bool {
        self.sent == 0
            && self.delivered == 0
            && self.failed == 0
            && self.cost == Money::ZERO
            && self.delivery_count == 0
    }
}

/// A day's figures for one provider, all message types together.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyStats {
    pub day: NaiveDate,
    pub provider: String,
    pub sent_count: i64,
    pub delivered_count: i64,
    pub failed_count: i64,
    pub total_cost: Money,
    pub avg_delivery_ms: Option<f64>,
}

/// Days from `from` to `to`, both included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub provider: Option<String>,
}

/// Folds rows (per type, or partial deltas) into one figure per (day, provider), sorted.
pub fn summarize(rows: impl IntoIterator<Item = StatsDelta>) -> Vec<DailyStats> {
    let mut by_key: std::collections::BTreeMap<(NaiveDate, String), StatsDelta> =
        std::collections::BTreeMap::new();
    for row in rows {
        by_key
            .entry((row.day, row.provider.clone()))
            .and_modify(|acc| acc.merge(&row))
            .or_insert(row);
    }
    by_key
        .into_values()
        .map(|d| DailyStats {
            day: d.day,
            provider: d.provider,
            sent_count: d.sent,
            delivered_count: d.delivered,
            failed_count: d.failed,
            total_cost: d.cost,
            avg_delivery_ms: (d.delivery_count > 0)
                .then(|| d.delivery_ms_sum as f64 / d.delivery_count as f64),
        })
        .collect()
}
