//! Documents of the MongoDB store and their mapping to and from the domain: the storage shape
//! never leaks inwards, and a document that does not parse becomes `StoreError::Corrupt`.
//!
//! Field names follow the seed's schema (`phone_number`, `message`, `response_token`, ...), and
//! the strings stored for statuses, types and encodings are the embedded store's, so the two
//! backends hold the same values.

use crate::store::decode::{corrupt, day_text, parse, parse_stats_key};
use chrono::{DateTime, NaiveDate, Utc};
use mongodb::bson::{self, doc, Bson, Document};
use serde::{Deserialize, Serialize};
use smsgate_actors::domain::{event::ErrorKind, Message};
use smsgate_actors::domain::{
    stats::histogram, DeliveryHistogram, Encoding, MessageError, MessageEvent, MessageId,
    MessageStatus, MessageType, Money, ProviderConfig, ProviderId, ProviderKind, StatsDelta, E164,
};
use smsgate_actors::ports::StoreError;

/// BSON dates keep milliseconds: finer parts of a time are dropped on the way in.
pub(super) fn date(at: &DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

fn time(field: &str, at: bson::DateTime) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(at.timestamp_millis())
        .ok_or_else(|| corrupt(field, &at.timestamp_millis().to_string()))
}

fn optional_time(
    field: &str,
    at: Option<bson::DateTime>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    at.map(|at| time(field, at)).transpose()
}

pub(super) fn day(day: NaiveDate) -> String {
    day_text(day)
}

fn count(field: &str, raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| corrupt(field, &raw.to_string()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ErrorDoc {
    kind: String,
    message: String,
}

impl ErrorDoc {
    fn new(error: &MessageError) -> Self {
        Self {
            kind: error.kind.as_str().to_owned(),
            message: error.message.clone(),
        }
    }

    fn into_error(self, field: &str) -> Result<MessageError, StoreError> {
        Ok(MessageError {
            kind: parse(field, &self.kind, ErrorKind::parse)?,
            message: self.message,
        })
    }
}

/// One element of a message's `events` array.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EventDoc {
    status: String,
    at: bson::DateTime,
    provider: Option<String>,
    error: Option<ErrorDoc>,
}

impl EventDoc {
    pub fn new(event: &MessageEvent) -> Self {
        Self {
            status: event.status.as_str().to_owned(),
            at: date(&event.at),
            provider: event.provider.clone(),
            error: event.error.as_ref().map(ErrorDoc::new),
        }
    }

    /// As a BSON value, for `$push`. Plain strings, dates and nulls always serialise.
    pub fn to_bson(&self) -> Result<Bson, StoreError> {
        bson::to_bson(self).map_err(|err| StoreError::Unavailable(Box::new(err)))
    }

    fn into_event(self) -> Result<MessageEvent, StoreError> {
        Ok(MessageEvent {
            status: parse("events.status", &self.status, MessageStatus::parse)?,
            at: time("events.at", self.at)?,
            provider: self.provider,
            error: self
                .error
                .map(|e| e.into_error("events.error"))
                .transpose()?,
        })
    }
}

/// One `sms_logs` document: a message with its events embedded, so a message and its history
/// are one document and one read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct MessageDoc {
    /// The message id (`msg_` + UUIDv7 hex): id order is creation order.
    #[serde(rename = "_id")]
    id: String,
    phone_number: String,
    message: String,
    message_type: String,
    sender: Option<String>,
    pinned_provider: Option<String>,
    /// Left out when there is none: the unique index on it is partial, over strings only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    /// The name of the token that sent it; absent on older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_by: Option<String>,
    status: String,
    provider: Option<String>,
    /// The provider's message id, as the seed names it.
    response_token: Option<String>,
    encoding: String,
    segments: i64,
    /// Millicents, so sums stay exact.
    cost: Option<i64>,
    attempts: i64,
    error: Option<ErrorDoc>,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
    sent_at: Option<bson::DateTime>,
    delivered_at: Option<bson::DateTime>,
    expires_at: bson::DateTime,
    events: Vec<EventDoc>,
    /// The instance that dispatches this message while its heartbeat lasts (see `leases`);
    /// absent on documents written before leases existed, which any instance may claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_owner: Option<String>,
    /// Who made the last status change (`instance` then a space and a nonce): changes made by
    /// an instance are told apart in the change stream, and this field changes with every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_write: Option<String>,
}

impl MessageDoc {
    pub fn new(m: &Message) -> Self {
        Self {
            id: m.id.as_str().to_owned(),
            phone_number: m.to.as_str().to_owned(),
            message: m.body.clone(),
            message_type: m.message_type.as_str().to_owned(),
            sender: m.sender.clone(),
            pinned_provider: m.pinned_provider.clone(),
            idempotency_key: m.idempotency_key.clone(),
            sent_by: m.sent_by.clone(),
            status: m.status.as_str().to_owned(),
            provider: m.provider.clone(),
            response_token: m.provider_message_id.clone(),
            encoding: m.encoding.as_str().to_owned(),
            segments: i64::from(m.segments),
            cost: m.cost.map(Money::millicents),
            attempts: i64::from(m.attempts),
            error: m.error.as_ref().map(ErrorDoc::new),
            created_at: date(&m.created_at),
            updated_at: date(&m.updated_at),
            sent_at: m.sent_at.as_ref().map(date),
            delivered_at: m.delivered_at.as_ref().map(date),
            expires_at: date(&m.expires_at),
            events: m.events.iter().map(EventDoc::new).collect(),
            lease_owner: None,
            last_write: None,
        }
    }

    /// The instance that wrote this document last, if it says.
    pub fn last_writer(&self) -> Option<&str> {
        self.last_write.as_deref().map(writer_of)
    }

    /// The same document, held and written by `owner`.
    pub fn leased(self, owner: &str) -> Self {
        Self {
            lease_owner: Some(owner.to_owned()),
            last_write: Some(last_write(owner)),
            ..self
        }
    }

    pub fn into_message(self) -> Result<Message, StoreError> {
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
            segments: count("segments", self.segments)?,
            cost: self.cost.map(Money::from_millicents),
            attempts: count("attempts", self.attempts)?,
            error: self.error.map(|e| e.into_error("error")).transpose()?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
            sent_at: optional_time("sent_at", self.sent_at)?,
            delivered_at: optional_time("delivered_at", self.delivered_at)?,
            expires_at: time("expires_at", self.expires_at)?,
            events: self
                .events
                .into_iter()
                .map(EventDoc::into_event)
                .collect::<Result<_, _>>()?,
            id: MessageId::from_stored(self.id),
        })
    }
}

/// The fields of a message that change after it is accepted, as a `$set`; what the insert fixed
/// (recipient, body, type, key, expiry) stays. Unset values are written as null, so a cleared
/// error is cleared in the document too.
/// A fresh `last_write` value for a change by `instance`.
pub(super) fn last_write(instance: &str) -> String {
    format!("{instance} {}", uuid::Uuid::new_v4().simple())
}

/// The instance named by a `last_write` value.
pub(super) fn writer_of(last_write: &str) -> &str {
    last_write.split(' ').next().unwrap_or_default()
}

pub(super) fn mutable_fields(m: &Message) -> Document {
    let opt_date = |at: &Option<DateTime<Utc>>| at.as_ref().map(date);
    let error = m.error.as_ref().map(|e| {
        doc! { "kind": e.kind.as_str(), "message": e.message.as_str() }
    });
    doc! {
        "status": m.status.as_str(),
        "provider": m.provider.as_deref(),
        "response_token": m.provider_message_id.as_deref(),
        "segments": i64::from(m.segments),
        "cost": m.cost.map(Money::millicents),
        "attempts": i64::from(m.attempts),
        "error": error,
        "updated_at": date(&m.updated_at),
        "sent_at": opt_date(&m.sent_at),
        "delivered_at": opt_date(&m.delivered_at),
    }
}

/// One `sms_providers` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProviderDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    slug: String,
    kind: String,
    is_active: bool,
    is_default: bool,
    priority: i32,
    features: Vec<String>,
    sender_id: Option<String>,
    api_base_url: Option<String>,
    /// The Fernet token: encrypted by the keyring before it gets here.
    credentials: Option<String>,
    api_key_hint: Option<String>,
    /// The provider's JSON settings as a BSON value, so operators can read them in the shell.
    settings: Bson,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
    /// The webhook path secret; absent in documents written before there was one.
    #[serde(default)]
    webhook_secret: Option<String>,
}

impl ProviderDoc {
    /// Fails only for settings BSON cannot hold (an integer above i64::MAX).
    pub fn new(p: &ProviderConfig) -> Result<Self, StoreError> {
        Ok(Self {
            id: p.id.as_str().to_owned(),
            name: p.name.clone(),
            slug: p.slug.clone(),
            kind: p.kind.as_str().to_owned(),
            is_active: p.is_active,
            is_default: p.is_default,
            priority: p.priority,
            features: p.features.clone(),
            sender_id: p.sender_id.clone(),
            api_base_url: p.api_base_url.clone(),
            credentials: p.credentials.clone(),
            api_key_hint: p.api_key_hint.clone(),
            settings: bson::to_bson(&p.settings)
                .map_err(|err| StoreError::Unavailable(Box::new(err)))?,
            created_at: date(&p.created_at),
            updated_at: date(&p.updated_at),
            webhook_secret: p.webhook_secret.clone(),
        })
    }

    pub fn into_provider(self) -> Result<ProviderConfig, StoreError> {
        Ok(ProviderConfig {
            kind: parse("kind", &self.kind, ProviderKind::parse)?,
            settings: bson::from_bson(self.settings)
                .map_err(|_| StoreError::Corrupt("settings is not JSON-shaped".into()))?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
            id: ProviderId::from_stored(self.id),
            name: self.name,
            slug: self.slug,
            is_active: self.is_active,
            is_default: self.is_default,
            priority: self.priority,
            features: self.features,
            sender_id: self.sender_id,
            api_base_url: self.api_base_url,
            credentials: self.credentials,
            api_key_hint: self.api_key_hint,
            webhook_secret: self.webhook_secret,
        })
    }
}

/// One `sms_statistics` document: the counters of one (day, hour, provider, message type).
/// `delivery_histogram` holds the histogram's non-empty buckets as `b<index>` fields, each added
/// to with `$inc`, so instances adding to the same document at once never lose a count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StatsDoc {
    day: String,
    /// Documents written before hours were kept have none: they count as hour 0.
    #[serde(default)]
    hour: i64,
    provider: String,
    message_type: String,
    #[serde(default)]
    sent: i64,
    #[serde(default)]
    delivered: i64,
    #[serde(default)]
    failed: i64,
    /// Millicents.
    #[serde(default)]
    cost: i64,
    #[serde(default)]
    delivery_ms_sum: i64,
    #[serde(default)]
    delivery_count: i64,
    #[serde(default)]
    delivery_histogram: Document,
}

/// The field of histogram bucket `i` inside `delivery_histogram`.
fn bucket_field(i: usize) -> String {
    format!("b{i}")
}

impl StatsDoc {
    pub fn into_delta(self) -> Result<StatsDelta, StoreError> {
        let mut histogram = DeliveryHistogram::default();
        for (field, value) in &self.delivery_histogram {
            let bucket = field
                .strip_prefix('b')
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < histogram::BUCKETS)
                .ok_or_else(|| corrupt("delivery_histogram", field))?;
            let count = value
                .as_i64()
                .or_else(|| value.as_i32().map(i64::from))
                .filter(|c| *c >= 0)
                .ok_or_else(|| corrupt("delivery_histogram", &value.to_string()))?;
            histogram.add(bucket, count);
        }
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
            delivery_histogram: histogram,
        })
    }
}

/// The key of a statistics document, as a filter.
pub(super) fn stats_key(d: &StatsDelta) -> Document {
    doc! {
        "day": day(d.day),
        "hour": i64::from(d.hour),
        "provider": d.provider.as_str(),
        "message_type": d.message_type.as_str(),
    }
}

/// The counters of a delta, as an `$inc`: the server adds, so no count is lost between a read
/// and a write, whichever instance adds to the same document.
pub(super) fn stats_increments(d: &StatsDelta) -> Document {
    let mut inc = doc! {
        "sent": d.sent,
        "delivered": d.delivered,
        "failed": d.failed,
        "cost": d.cost.millicents(),
        "delivery_ms_sum": d.delivery_ms_sum,
        "delivery_count": d.delivery_count,
    };
    for (i, count) in d.delivery_histogram.nonzero() {
        inc.insert(format!("delivery_histogram.{}", bucket_field(i)), count);
    }
    inc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::store::contract::{base_time, in_status};

    #[test]
    fn a_message_round_trips_through_its_document() {
        let m = in_status("+40755000001", base_time(), MessageStatus::Undelivered);
        let bson = bson::to_document(&MessageDoc::new(&m)).unwrap();
        assert!(bson.get("idempotency_key").is_none(), "no key, no field");
        assert_eq!(bson.get_str("status").unwrap(), "UNDELIVERED");
        assert_eq!(bson.get_str("message_type").unwrap(), "transactional");
        let back: MessageDoc = bson::from_document(bson).unwrap();
        assert_eq!(back.into_message().unwrap(), m);
    }

    #[test]
    fn an_unknown_status_is_corrupt() {
        let m = in_status("+40755000001", base_time(), MessageStatus::Sent);
        let mut doc = MessageDoc::new(&m);
        doc.status = "LOST".into();
        let err = doc.into_message().unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(what) if what.contains("LOST")));
    }
}
