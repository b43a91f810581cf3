//! Rows of the embedded store and their mapping to and from the domain: the storage shape never
//! leaks inwards, and a row that does not parse becomes `StoreError::Corrupt`, never a panic.

use crate::store::decode::{corrupt, day_text, parse, parse_stats_key};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::Row;
use smsgate_actors::domain::{event::ErrorKind, Message};
use smsgate_actors::domain::{
    DeliveryHistogram, Encoding, MessageError, MessageEvent, MessageId, MessageStatus, MessageType,
    Money, ProviderConfig, ProviderId, ProviderKind, StatsDelta, E164,
};
use smsgate_actors::ports::StoreError;

/// RFC 3339 in UTC with exactly nine fractional digits: every stored time has the same width,
/// so comparing the text (range filters, ordering) compares the instants.
pub(super) fn time_to_sql(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn day_to_sql(day: NaiveDate) -> String {
    day_text(day)
}

/// Times are stored as RFC 3339 text, read as every backend reads them.
pub(super) use crate::store::decode::parse_time as time_from_sql;

pub(super) fn optional_time(
    column: &str,
    raw: Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.map(|raw| time_from_sql(column, &raw)).transpose()
}

/// An error is kept as two columns; a kind without a message (or the reverse) is not one.
fn error_from_sql(
    kind: Option<String>,
    message: Option<String>,
) -> Result<Option<MessageError>, StoreError> {
    match (kind, message) {
        (None, None) => Ok(None),
        (Some(kind), Some(message)) => Ok(Some(MessageError {
            kind: parse("error_kind", &kind, ErrorKind::parse)?,
            message,
        })),
        (Some(kind), None) => Err(corrupt("error_message", &format!("nothing for {kind}"))),
        (None, Some(_)) => Err(StoreError::Corrupt(
            "error_message is set without an error_kind".into(),
        )),
    }
}

pub(super) fn error_kind_to_sql(error: Option<&MessageError>) -> Option<&'static str> {
    error.map(|e| e.kind.as_str())
}

pub(super) fn error_message_to_sql(error: Option<&MessageError>) -> Option<&str> {
    error.map(|e| e.message.as_str())
}

/// The `sms_logs` columns every message read selects, in `MessageRow::read` order.
pub(super) const MESSAGE_COLUMNS: &str = "id, phone_number, message, message_type, sender, \
    pinned_provider, idempotency_key, status, provider, response_token, encoding, segments, \
    cost, attempts, error_kind, error_message, created_at, updated_at, sent_at, delivered_at, \
    expires_at, sent_by";

/// One `sms_logs` row as stored, before it is checked into a `Message`.
pub(super) struct MessageRow {
    pub id: String,
    phone_number: String,
    message: String,
    message_type: String,
    sender: Option<String>,
    pinned_provider: Option<String>,
    idempotency_key: Option<String>,
    status: String,
    provider: Option<String>,
    response_token: Option<String>,
    encoding: String,
    segments: u32,
    cost: Option<i64>,
    attempts: u32,
    error_kind: Option<String>,
    error_message: Option<String>,
    created_at: String,
    updated_at: String,
    sent_at: Option<String>,
    delivered_at: Option<String>,
    expires_at: String,
    sent_by: Option<String>,
}

impl MessageRow {
    pub fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            phone_number: row.get(1)?,
            message: row.get(2)?,
            message_type: row.get(3)?,
            sender: row.get(4)?,
            pinned_provider: row.get(5)?,
            idempotency_key: row.get(6)?,
            status: row.get(7)?,
            provider: row.get(8)?,
            response_token: row.get(9)?,
            encoding: row.get(10)?,
            segments: row.get(11)?,
            cost: row.get(12)?,
            attempts: row.get(13)?,
            error_kind: row.get(14)?,
            error_message: row.get(15)?,
            created_at: row.get(16)?,
            updated_at: row.get(17)?,
            sent_at: row.get(18)?,
            delivered_at: row.get(19)?,
            expires_at: row.get(20)?,
            sent_by: row.get(21)?,
        })
    }

    pub fn into_message(self, events: Vec<MessageEvent>) -> Result<Message, StoreError> {
        Ok(Message {
            to: E164::from_stored(self.phone_number),
            body: self.message,
            message_type: parse("message_type", &self.message_type, MessageType::parse)?,
            sender: self.sender,
            pinned_provider: self.pinned_provider,
            idempotency_key: self.idempotency_key,
            sent_by: self.sent_by,
            status: parse("status", &self.status, MessageStatus::parse)?,
            provider: self.provider,
            provider_message_id: self.response_token,
            encoding: parse("encoding", &self.encoding, Encoding::parse)?,
            segments: self.segments,
            cost: self.cost.map(Money::from_millicents),
            attempts: self.attempts,
            error: error_from_sql(self.error_kind, self.error_message)?,
            created_at: time_from_sql("created_at", &self.created_at)?,
            updated_at: time_from_sql("updated_at", &self.updated_at)?,
            sent_at: optional_time("sent_at", self.sent_at)?,
            delivered_at: optional_time("delivered_at", self.delivered_at)?,
            expires_at: time_from_sql("expires_at", &self.expires_at)?,
            events,
            id: MessageId::from_stored(self.id),
        })
    }
}

/// The `sms_events` columns every event read selects, in `EventRow::read` order.
pub(super) const EVENT_COLUMNS: &str =
    "message_id, status, at, provider, error_kind, error_message";

pub(super) struct EventRow {
    pub message_id: String,
    status: String,
    at: String,
    provider: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
}

impl EventRow {
    pub fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            message_id: row.get(0)?,
            status: row.get(1)?,
            at: row.get(2)?,
            provider: row.get(3)?,
            error_kind: row.get(4)?,
            error_message: row.get(5)?,
        })
    }

    pub fn into_event(self) -> Result<MessageEvent, StoreError> {
        Ok(MessageEvent {
            status: parse("sms_events.status", &self.status, MessageStatus::parse)?,
            at: time_from_sql("sms_events.at", &self.at)?,
            provider: self.provider,
            error: error_from_sql(self.error_kind, self.error_message)?,
        })
    }
}

pub(super) const PROVIDER_COLUMNS: &str = "id, name, slug, kind, is_active, is_default, \
    priority, features, sender_id, api_base_url, credentials, api_key_hint, settings, \
    created_at, updated_at, webhook_secret";

pub(super) struct ProviderRow {
    id: String,
    name: String,
    slug: String,
    kind: String,
    is_active: bool,
    is_default: bool,
    priority: i32,
    features: String,
    sender_id: Option<String>,
    api_base_url: Option<String>,
    credentials: Option<String>,
    api_key_hint: Option<String>,
    settings: String,
    created_at: String,
    updated_at: String,
    webhook_secret: Option<String>,
}

impl ProviderRow {
    pub fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            slug: row.get(2)?,
            kind: row.get(3)?,
            is_active: row.get(4)?,
            is_default: row.get(5)?,
            priority: row.get(6)?,
            features: row.get(7)?,
            sender_id: row.get(8)?,
            api_base_url: row.get(9)?,
            credentials: row.get(10)?,
            api_key_hint: row.get(11)?,
            settings: row.get(12)?,
            created_at: row.get(13)?,
            updated_at: row.get(14)?,
            webhook_secret: row.get(15)?,
        })
    }

    pub fn into_provider(self) -> Result<ProviderConfig, StoreError> {
        Ok(ProviderConfig {
            kind: parse("kind", &self.kind, ProviderKind::parse)?,
            features: serde_json::from_str(&self.features)
                .map_err(|_| corrupt("features", &self.features))?,
            settings: serde_json::from_str(&self.settings)
                .map_err(|_| StoreError::Corrupt("settings is not JSON".into()))?,
            created_at: time_from_sql("created_at", &self.created_at)?,
            updated_at: time_from_sql("updated_at", &self.updated_at)?,
            id: ProviderId::from_stored(self.id),
            name: self.name,
            slug: self.slug,
            is_active: self.is_active,
            is_default: self.is_default,
            priority: self.priority,
            sender_id: self.sender_id,
            api_base_url: self.api_base_url,
            credentials: self.credentials,
            api_key_hint: self.api_key_hint,
            webhook_secret: self.webhook_secret,
        })
    }
}

/// A list of strings always serialises; the fallback only keeps this function total.
pub(super) fn features_to_sql(features: &[String]) -> String {
    serde_json::to_string(features).unwrap_or_else(|_| "[]".into())
}

pub(super) const STATS_COLUMNS: &str = "day, hour, provider, message_type, sent, delivered, \
    failed, cost, delivery_ms_sum, delivery_count, delivery_histogram";

pub(super) struct StatsRow {
    day: String,
    hour: i64,
    provider: String,
    message_type: String,
    sent: i64,
    delivered: i64,
    failed: i64,
    cost: i64,
    delivery_ms_sum: i64,
    delivery_count: i64,
    delivery_histogram: String,
}

impl StatsRow {
    pub fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            day: row.get(0)?,
            hour: row.get(1)?,
            provider: row.get(2)?,
            message_type: row.get(3)?,
            sent: row.get(4)?,
            delivered: row.get(5)?,
            failed: row.get(6)?,
            cost: row.get(7)?,
            delivery_ms_sum: row.get(8)?,
            delivery_count: row.get(9)?,
            delivery_histogram: row.get(10)?,
        })
    }

    pub fn into_delta(self) -> Result<StatsDelta, StoreError> {
        let (day, hour, message_type) = parse_stats_key(&self.day, self.hour, &self.message_type)?;
        Ok(StatsDelta {
            day,
            hour,
            message_type,
            provider: self.provider,
            sent: self.sent,
            delivered: self.delivered,
            failed: self.failed,
            cost: Money::from_millicents(self.cost),
            delivery_ms_sum: self.delivery_ms_sum,
            delivery_count: self.delivery_count,
            delivery_histogram: histogram_from_sql(&self.delivery_histogram)?,
        })
    }
}

/// A histogram as stored: its bucket counts as a JSON array, bucket 0 first.
pub(super) fn histogram_to_sql(h: &DeliveryHistogram) -> String {
    serde_json::to_string(h.counts()).unwrap_or_else(|_| "[]".into())
}

pub(super) fn histogram_from_sql(raw: &str) -> Result<DeliveryHistogram, StoreError> {
    serde_json::from_str::<Vec<i64>>(raw)
        .ok()
        .and_then(DeliveryHistogram::from_counts)
        .ok_or_else(|| corrupt("delivery_histogram", raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_times_sort_as_text_in_time_order() {
        let whole = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).single();
        let whole = whole.unwrap_or_default();
        let later = [
            whole + chrono::Duration::nanoseconds(1),
            whole + chrono::Duration::milliseconds(100),
            whole + chrono::Duration::seconds(1),
        ];
        let mut previous = time_to_sql(&whole);
        for at in later {
            let text = time_to_sql(&at);
            assert_eq!(text.len(), previous.len(), "{text} vs {previous}");
            assert!(text > previous, "{text} must sort after {previous}");
            assert_eq!(time_from_sql("t", &text).ok(), Some(at));
            previous = text;
        }
    }

    #[test]
    fn half_an_error_is_corrupt() {
        assert!(matches!(
            error_from_sql(Some("TIMEOUT".into()), None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            error_from_sql(Some("LOST".into()), Some("x".into())),
            Err(StoreError::Corrupt(_))
        ));
    }
}
