//! The MongoDB store's side of [`AlertLog`]: alert notices in the `alerts` collection, one
//! document per notice (`_id` = alert id and notice number). Times are kept as RFC 3339 text
//! with nine fractional digits, as in the embedded store, so text order is time order and a
//! page cursor compares exactly.

use super::{mongo_error, MongoStore};
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use smsgate_actors::{
    alerts::{Alert, AlertQuery, AlertRule, AlertState, Severity},
    ports::{AlertLog, StoreError},
};

const ALERTS: &str = "alerts";

fn text(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The listing's order, and the rule filter with the same order behind it.
pub(super) async fn create_indexes(db: &Database) -> Result<(), StoreError> {
    let named = |name: &str, keys: Document| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_owned()).build())
            .build()
    };
    db.collection::<Document>(ALERTS)
        .create_indexes([
            named(
                "at_id_notice",
                doc! { "at": -1, "alert_id": -1, "notice": -1 },
            ),
            named(
                "rule_at_id_notice",
                doc! { "rule": 1, "at": -1, "alert_id": -1, "notice": -1 },
            ),
        ])
        .await
        .map_err(mongo_error)?;
    Ok(())
}

fn corrupt(field: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("alerts.{field} {raw:?}"))
}

fn field<'a>(d: &'a Document, key: &str) -> Result<&'a str, StoreError> {
    d.get_str(key).map_err(|_| corrupt(key, "missing"))
}

fn time(d: &Document, key: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    let raw = field(d, key)?;
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| corrupt(key, raw))
}

fn decode(d: &Document) -> Result<Alert, StoreError> {
    let rule = field(d, "rule")?;
    let state = field(d, "state")?;
    let severity = field(d, "severity")?;
    let notice = d
        .get_i64("notice")
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| corrupt("notice", "not a count"))?;
    Ok(Alert {
        id: field(d, "alert_id")?.to_owned(),
        notice,
        rule: AlertRule::parse(rule).ok_or_else(|| corrupt("rule", rule))?,
        subject: field(d, "subject")?.to_owned(),
        state: AlertState::parse(state).ok_or_else(|| corrupt("state", state))?,
        severity: Severity::parse(severity).ok_or_else(|| corrupt("severity", severity))?,
        message: field(d, "message")?.to_owned(),
        fired_at: time(d, "fired_at")?,
        at: time(d, "at")?,
        details: serde_json::from_str(field(d, "details")?)
            .map_err(|_| corrupt("details", "not JSON"))?,
    })
}

#[async_trait]
impl AlertLog for MongoStore {
    async fn record_alert(&self, a: &Alert) -> Result<(), StoreError> {
        let id = format!("{}:{}", a.id, a.notice);
        let fields = doc! {
            "alert_id": &a.id,
            "notice": i64::from(a.notice),
            "rule": a.rule.as_str(),
            "subject": &a.subject,
            "state": a.state.as_str(),
            "severity": a.severity.as_str(),
            "message": &a.message,
            "fired_at": text(&a.fired_at),
            "at": text(&a.at),
            "details": a.details.to_string(),
        };
        // An upsert that only sets on insert: storing a notice twice keeps the first.
        self.db
            .collection::<Document>(ALERTS)
            .update_one(doc! { "_id": id }, doc! { "$setOnInsert": fields })
            .upsert(true)
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn alert_history(&self, q: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
        let mut filter = doc! {};
        if let Some(rule) = q.rule {
            filter.insert("rule", rule.as_str());
        }
        if let Some(state) = q.state {
            filter.insert("state", state.as_str());
        }
        if let Some(c) = &q.before {
            let at = text(&c.at);
            let notice = i64::from(c.notice);
            filter.insert(
                "$or",
                vec![
                    doc! { "at": { "$lt": &at } },
                    doc! { "at": &at, "alert_id": { "$lt": &c.id } },
                    doc! { "at": &at, "alert_id": &c.id, "notice": { "$lt": notice } },
                ],
            );
        }
        let docs: Vec<Document> = self
            .db
            .collection::<Document>(ALERTS)
            .find(filter)
            .sort(doc! { "at": -1, "alert_id": -1, "notice": -1 })
            .limit(i64::try_from(q.limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.iter().map(decode).collect()
    }
}
