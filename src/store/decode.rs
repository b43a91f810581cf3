//! What every backend needs to read stored values back into the domain: the day format of the
//! statistics, stored times, the audit log's stored entries, and the one way a value that does
//! not parse is reported (`StoreError::Corrupt`).

use crate::audit::ChainEntry;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use smsgate_actors::domain::{AuditEntryView, AuditRecord};
use smsgate_actors::{domain::MessageType, ports::StoreError};

/// Statistics days are stored as `2026-11-24` text: sortable, and the API's own day format.
pub(crate) const DAY_FORMAT: &str = "%Y-%m-%d";

pub(crate) fn day_text(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

pub(crate) fn parse_day(field: &str, raw: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(raw, DAY_FORMAT).map_err(|_| corrupt(field, raw))
}

pub(crate) fn corrupt(field: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("{field} holds {raw:?}"))
}

pub(crate) fn parse<T>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(raw).ok_or_else(|| corrupt(field, raw))
}

/// A statistics row's key as stored: its day (`2026-11-24`), hour (0–23) and message type.
pub(crate) fn parse_stats_key(
    day: &str,
    hour: i64,
    message_type: &str,
) -> Result<(NaiveDate, u32, MessageType), StoreError> {
    Ok((
        parse_day("day", day)?,
        u32::try_from(hour)
            .ok()
            .filter(|h| *h < 24)
            .ok_or_else(|| corrupt("hour", &hour.to_string()))?,
        parse("message_type", message_type, MessageType::parse)?,
    ))
}

/// An RFC 3339 time as stored.
pub(crate) fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| corrupt(field, raw))
}

/// An audit log entry as both backends store it: its time and JSON as text, so that the hash
/// chain is checked over exactly the stored text. In MongoDB `_id` is the sequence number.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredAuditEntry {
    #[serde(rename = "_id")]
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

fn json(field: &str, raw: Option<&str>) -> Result<Option<serde_json::Value>, StoreError> {
    raw.map(|text| serde_json::from_str(text).map_err(|_| corrupt(field, text)))
        .transpose()
}

impl StoredAuditEntry {
    pub(crate) fn into_chain(self) -> Result<ChainEntry, StoreError> {
        let entry = AuditEntryView {
            seq: self.seq,
            at: parse_time("audit_log.at", &self.at)?,
            record: AuditRecord {
                actor: self.actor,
                action: self.action,
                target: self.target,
                before: json("audit_log.before", self.before.as_deref())?,
                after: json("audit_log.after", self.after.as_deref())?,
            },
            hash: self.hash,
        };
        Ok(ChainEntry {
            entry,
            prev_hash: self.prev_hash,
            at_text: self.at,
            before_text: self.before,
            after_text: self.after,
        })
    }
}
