//! REST shapes of the seed's admin routes (snake_case): a provider as an admin sees it (never
//! its credentials, only `api_key_hint`), the body of `PUT`, the test-send body and the query
//! strings of statistics and logs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smsgate_actors::{
    domain::DailyStats, policy::breaker::CircuitState, EngineError, ProviderPatch, ProviderView,
};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A provider on REST. Built field by field from the view so that a field added to the
/// configuration later (a secret, say) never reaches an answer by accident.
#[derive(Debug, Serialize)]
pub struct ProviderDto {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// `smso`, `twilio`, `vonage`, `http` or `mock`.
    pub kind: String,
    pub is_active: bool,
    pub is_default: bool,
    pub priority: i32,
    pub features: Vec<String>,
    pub sender_id: Option<String>,
    pub api_base_url: Option<String>,
    /// The last characters of the key, e.g. `****3f9a`; the key itself is never returned.
    pub api_key_hint: Option<String>,
    pub health: HealthDto,
    /// Eurocents, as last read from the provider; null when unknown or unlimited.
    pub balance: Option<f64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct HealthDto {
    /// `closed`, `half_open` or `open`.
    pub circuit: &'static str,
    pub out_of_credit: bool,
    pub consecutive_failures: u32,
    pub running: bool,
    pub in_flight: usize,
}

impl From<&ProviderView> for ProviderDto {
    fn from(view: &ProviderView) -> Self {
        let c = &view.config;
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            slug: c.slug.clone(),
            kind: c.kind.as_str().to_lowercase(),
            is_active: c.is_active,
            is_default: c.is_default,
            priority: c.priority,
            features: c.features.clone(),
            sender_id: c.sender_id.clone(),
            api_base_url: c.api_base_url.clone(),
            api_key_hint: c.api_key_hint.clone(),
            health: HealthDto {
                circuit: match view.health.circuit {
                    CircuitState::Closed => "closed",
                    CircuitState::HalfOpen => "half_open",
                    CircuitState::Open => "open",
                },
                out_of_credit: view.health.out_of_credit,
                consecutive_failures: view.health.consecutive_failures,
                running: view.running,
                in_flight: view.in_flight,
            },
            balance: view.health.credit.map(|m| m.cents()),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// `PUT /api/admin/sms/providers/{id}`: the fields to change; omitted ones stay, `null` clears
/// `sender_id` or `api_base_url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub api_base_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub sender_id: Option<Option<String>>,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Replaces the stored credentials as a whole; snake_case keys (`api_key`, `auth_token`,
    /// ...) or the GraphQL ones (`apiKey`, ...).
    #[serde(default)]
    pub credentials: Option<Value>,
    #[serde(default)]
    pub settings: Option<Value>,
}

/// Tells "absent" (outer `None`, via `default`) from "null" (`Some(None)`).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl ProviderUpdate {
    pub fn into_patch(self) -> Result<ProviderPatch, EngineError> {
        let kind = match self.kind {
            None => None,
            Some(raw) => Some(
                smsgate_actors::domain::ProviderKind::parse(&raw).ok_or_else(|| {
                    EngineError::invalid("kind", "one of smso, twilio, vonage, http, mock")
                })?,
            ),
        };
        Ok(ProviderPatch {
            name: self.name,
            kind,
            api_base_url: self.api_base_url,
            sender_id: self.sender_id,
            priority: self.priority,
            is_active: self.is_active,
            features: self.features,
            credentials: self.credentials.map(camel_case_keys),
            settings: self.settings,
        })
    }
}

/// The engine knows credentials by the design's camelCase keys; REST callers write the seed's
/// snake_case. Values are left untouched (and never logged).
pub fn camel_case_keys(credentials: Value) -> Value {
    match credentials {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (camel(&key), value))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for ch in key.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// `POST /api/admin/sms/providers/{id}/test`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    pub phone_number: String,
    #[serde(default = "default_test_message")]
    pub message: String,
}

fn default_test_message() -> String {
    "smsgate test message".to_owned()
}

/// `GET /api/admin/sms/statistics?from=&to=&provider=&message_type=&group_by=&by_type=`; days
/// as `2026-11-24`, `group_by` `day` (default) or `hour`.
#[derive(Debug, Deserialize)]
pub struct StatisticsParams {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub provider: Option<String>,
    pub message_type: Option<String>,
    pub group_by: Option<String>,
    pub by_type: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct DailyDto {
    pub day: String,
    /// The start of the hour (RFC 3339) when grouped by hour; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    pub provider: String,
    /// When grouped by type or filtered to one; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<&'static str>,
    pub sent_count: i64,
    pub delivered_count: i64,
    pub failed_count: i64,
    /// Eurocents.
    pub total_cost: f64,
    /// Milliseconds from sent to delivered; null when nothing was delivered.
    pub avg_delivery_time: Option<f64>,
    /// Milliseconds, at the stored histogram's resolution (bucket upper bound, √2 steps).
    pub p95_delivery_time: Option<f64>,
}

impl From<DailyStats> for DailyDto {
    fn from(s: DailyStats) -> Self {
        Self {
            day: s.day.to_string(),
            hour: s
                .hour
                .map(|h| h.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            provider: s.provider,
            message_type: s.message_type.map(|t| t.as_str()),
            sent_count: s.sent_count,
            delivered_count: s.delivered_count,
            failed_count: s.failed_count,
            total_cost: s.total_cost.cents(),
            avg_delivery_time: s.avg_delivery_ms,
            p95_delivery_time: s.p95_delivery_ms.map(|ms| ms as f64),
        }
    }
}

/// `GET /api/admin/sms/logs?...`: every filter optional; `from`/`to` as RFC 3339 times or days.
#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub message_type: Option<String>,
    pub phone_number: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// An error kind as the API names it, e.g. `invalid_recipient` (any case).
    pub error_kind: Option<String>,
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A time bound: an RFC 3339 time, or a day (its midnight, UTC). `to` as a day includes it.
pub fn time_bound(field: &'static str, raw: &str, end: bool) -> Result<DateTime<Utc>, EngineError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| EngineError::invalid(field, "an RFC 3339 time or a day such as 2026-11-24"))?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_credential_keys_become_the_engine_keys() {
        let got = camel_case_keys(json!({"account_sid": "AC1", "auth_token": "t", "apiKey": "k"}));
        assert_eq!(
            got,
            json!({"accountSid": "AC1", "authToken": "t", "apiKey": "k"})
        );
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let update: ProviderUpdate = serde_json::from_value(json!({"sender_id": null})).unwrap();
        assert_eq!(update.sender_id, Some(None));
        assert_eq!(update.api_base_url, None);
    }

    #[test]
    fn a_day_as_upper_bound_includes_that_day() {
        let to = time_bound("to", "2026-11-24", true).unwrap();
        assert_eq!(rfc3339(to), "2026-11-25T00:00:00.000Z");
        assert!(time_bound("from", "yesterday", false).is_err());
    }
}
