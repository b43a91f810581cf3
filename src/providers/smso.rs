//! SMSO.ro, HTTP API v1, as ../shared/providers/smso.md describes it: `POST send` (form, the
//! raw key in `X-Authorization`, a numeric sender id), `GET status?responseToken=` (no auth;
//! the answer with or without its `data` wrapper), `GET credit-check`, and the form-encoded
//! status webhook.
//!
//! SMSO has no idempotency key: a send that times out is `Ambiguous` and never re-sent.

use super::{
    http::{self, Answer, Call, HttpSettings, RateLimiter},
    outbound::{GuardedClient, OutboundPolicy},
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use smsgate_actors::{
    domain::{event::ErrorKind, MessageError, MessageType, Money, ProviderConfig},
    ports::{
        Balance, DeliveryStatus, ProviderError, ProviderErrorKind, SendReceipt, SendRequest,
        SmsProvider, StatusReport,
    },
};
use std::sync::Arc;

pub const DEFAULT_BASE_URL: &str = "https://app.smso.ro/api/v1/";
const NAME: &str = "SMSO";

/// SMSO's own settings, besides the shared ones in `HttpSettings`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SmsoSettings {
    /// What `credit_value` from `credit-check` counts: `cents` (eurocents, the default) or
    /// `euros`. SMSO does not document it (smso.md §6).
    pub credit_unit: CreditUnit,
}

impl Default for SmsoSettings {
    fn default() -> Self {
        Self {
            credit_unit: CreditUnit::Cents,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreditUnit {
    Cents,
    Euros,
}

pub struct Smso {
    client: GuardedClient,
    base: String,
    api_key: String,
    sender: Option<String>,
    webhook: Option<String>,
    settings: HttpSettings,
    own: SmsoSettings,
    limiter: Option<RateLimiter>,
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(rename = "apiKey")]
    api_key: String,
}

/// SMSO's tokens are UUIDs: compared in lower case, whatever case a receipt uses.
pub fn normalise_id(id: &str) -> String {
    id.trim()
        .trim_matches(|c| c == '{' || c == '}')
        .to_ascii_lowercase()
}

impl Smso {
    pub fn new(
        config: &ProviderConfig,
        credentials: &serde_json::Value,
        public_url: Option<&str>,
        outbound: &Arc<OutboundPolicy>,
    ) -> Result<Self, ProviderError> {
        let settings = HttpSettings::from_json(&config.settings)?;
        let own: SmsoSettings = http::parse_settings(&config.settings, "SMSO")?;
        let creds: Credentials = serde_json::from_value(credentials.clone()).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "SMSO credentials must be {\"apiKey\": \"...\"}",
            )
        })?;
        let webhook = settings.webhook_url(public_url, "smso", config);
        Ok(Self {
            client: http::client(&settings, outbound)?,
            base: http::base_url(config, DEFAULT_BASE_URL),
            api_key: creds.api_key,
            sender: config.sender_id.clone(),
            webhook,
            limiter: RateLimiter::new(settings.requests_per_second),
            settings,
            own,
        })
    }

    /// SMSO wants the numeric id of a sender from `GET /senders`, not its name.
    fn sender(&self, request: &SendRequest) -> Result<String, ProviderError> {
        let numeric = |s: &&String| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        request
            .sender
            .as_ref()
            .filter(numeric)
            .or(self.sender.as_ref().filter(numeric))
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::Rejected,
                    "SMSO needs a numeric sender id (the `id` from GET /senders) as the provider's sender id",
                )
            })
    }
}

/// The error for an answer SMSO refused (smso.md §7): its statuses say more than HTTP's alone.
fn refusal(answer: &Answer) -> ProviderError {
    let status = answer.status;
    let kind = match status.as_u16() {
        // Validation errors: a bad `to` is the usual cause; an unknown sender is ours to
        // fix, and another provider may take the message.
        400 if answer.body.contains("sender") => ProviderErrorKind::Rejected,
        400 => ProviderErrorKind::InvalidRecipient,
        401 => ProviderErrorKind::InvalidCredentials,
        402 => ProviderErrorKind::InsufficientCredit,
        // Blacklisted words.
        403 => ProviderErrorKind::InvalidContent,
        // The recipient unsubscribed (marketing).
        405 => ProviderErrorKind::InvalidRecipient,
        // SMSO throttles with 409, not 429.
        409 => ProviderErrorKind::RateLimited,
        // International destinations not enabled for this account: another may send it.
        422 => ProviderErrorKind::Rejected,
        _ => http::classify_status(status),
    };
    let detail = match status.as_u16() {
        400 => Some("invalid request"),
        403 => Some("the text contains blacklisted words"),
        405 => Some("the recipient unsubscribed"),
        422 => Some("international destinations are not enabled for this account"),
        _ => None,
    };
    http::status_error(NAME, kind, status, &answer.headers, detail)
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(rename = "responseToken")]
    response_token: String,
    transaction_cost: Option<f64>,
}

#[derive(Deserialize)]
struct StatusAnswer {
    data: Option<StatusData>,
    #[serde(flatten)]
    top: StatusData,
}

#[derive(Deserialize, Default)]
struct StatusData {
    status: Option<serde_json::Value>,
    delivered_at: Option<String>,
    sent_at: Option<String>,
}

#[derive(Deserialize)]
struct CreditAnswer {
    credit_value: f64,
}

/// SMSO's status words (smso.md §3); `None` for a word it does not document.
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "dispatched" | "sent" | "pending" | "queued" => DeliveryStatus::Pending,
        "delivered" => DeliveryStatus::Delivered,
        "undelivered" | "expired" => DeliveryStatus::Undelivered,
        "error" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// The error a final status carries, in words a person can act on.
pub fn status_error(raw: &str) -> Option<MessageError> {
    let message = match raw.trim().to_ascii_lowercase().as_str() {
        "undelivered" => "SMSO: the operator reported the message undelivered",
        "expired" => "SMSO: the message's validity ran out before delivery",
        "error" => "SMSO failed to send the message",
        _ => return None,
    };
    Some(MessageError {
        kind: ErrorKind::Rejected,
        message: message.to_owned(),
    })
}

/// `YYYY-MM-DD HH:MM:SS` in UTC; days and months may come unpadded (`2019-05-1`).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

#[async_trait]
impl SmsProvider for Smso {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        let sender = self.sender(request)?;
        let kind = match request.message_type {
            MessageType::Marketing => "marketing",
            MessageType::Otp | MessageType::Transactional => "transactional",
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("to", request.to.as_str()),
            ("sender", &sender),
            ("body", &request.body),
            ("type", kind),
        ];
        if let Some(webhook) = &self.webhook {
            form.push(("webhook_status", webhook));
        }
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let outgoing = self
            .client
            .post(http::join(&self.base, "send"))
            .header("X-Authorization", &self.api_key)
            .header("Accept", "application/json")
            .form(&form);
        let reply = http::exchange(&self.client, NAME, Call::Send, outgoing, |refused| {
            tracing::debug!(
                provider = NAME,
                status = refused.status.as_u16(),
                "send refused"
            );
            refusal(refused)
        })
        .await?;
        let answer: SendAnswer = serde_json::from_str(&reply.body)
            .map_err(|err| http::malformed(NAME, Call::Send, true, err))?;
        let cost = self
            .settings
            .price_override(request.segments)
            .or(answer.transaction_cost.map(Money::from_cents));
        Ok(SendReceipt {
            provider_message_id: normalise_id(&answer.response_token),
            cost,
            segments: None,
        })
    }

    async fn status(&self, provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        RateLimiter::acquire(self.limiter.as_ref()).await;
        // No key: SMSO's /status needs only the token, so the key is not sent where unneeded.
        let outgoing = self
            .client
            .get(http::join(&self.base, "status"))
            .query(&[("responseToken", provider_message_id)])
            .header("Accept", "application/json");
        let reply = http::exchange(&self.client, NAME, Call::Status, outgoing, refusal).await?;
        let answer: StatusAnswer = serde_json::from_str(&reply.body)
            .map_err(|err| http::malformed(NAME, Call::Status, true, err))?;
        // Documented inside `data`; some clients see it at the top level: accept both.
        let data = match answer.data {
            Some(data) if data.status.is_some() => data,
            _ => answer.top,
        };
        let raw = data
            .status
            .as_ref()
            .and_then(|s| s.as_str())
            .ok_or_else(|| http::malformed(NAME, Call::Status, true, "no status word"))?;
        let delivery = delivery_status(raw).ok_or_else(|| {
            http::malformed(NAME, Call::Status, true, format!("unknown status {raw:?}"))
        })?;
        let at = data
            .delivered_at
            .as_deref()
            .or(data.sent_at.as_deref())
            .and_then(parse_time);
        Ok(StatusReport {
            status: delivery,
            at,
            error: status_error(raw),
            cost: None,
        })
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let outgoing = self
            .client
            .get(http::join(&self.base, "credit-check"))
            .header("X-Authorization", &self.api_key)
            .header("Accept", "application/json");
        let reply = http::exchange(&self.client, NAME, Call::Balance, outgoing, refusal).await?;
        let answer: CreditAnswer = serde_json::from_str(&reply.body)
            .map_err(|err| http::malformed(NAME, Call::Balance, true, err))?;
        let cents = match self.own.credit_unit {
            CreditUnit::Cents => answer.credit_value,
            CreditUnit::Euros => answer.credit_value * 100.0,
        };
        Ok(Balance {
            credit: Some(Money::from_cents(cents)),
        })
    }
}

#[cfg(test)]
mod tests;
