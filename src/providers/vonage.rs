//! Vonage (ex-Nexmo) classic SMS API, as ../shared/providers/vonage.md describes it:
//! `POST /sms/json` (form, key and secret as HTTP Basic, `type=unicode` for UCS-2 bodies,
//! errors inside an HTTP 200, one `messages[]` entry per part), `GET /account/get-balance`,
//! and the delivery-receipt webhook with its optional signature.
//!
//! The SMS API has no status endpoint: receipts come by webhook only.

use super::{
    http::{self, Call, HttpSettings, RateLimiter},
    outbound::{GuardedClient, OutboundPolicy},
};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use smsgate_actors::{
    domain::{event::ErrorKind, Encoding, MessageError, Money, ProviderConfig},
    ports::{
        Balance, DeliveryStatus, ProviderError, ProviderErrorKind, SendReceipt, SendRequest,
        SmsProvider, StatusReport,
    },
};
use std::sync::Arc;

pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";
const NAME: &str = "Vonage";

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(rename = "apiKey")]
    pub api_key: String,
    #[serde(rename = "apiSecret")]
    pub api_secret: String,
    /// Set when the account signs its webhooks; receipts without a valid `sig` are refused.
    #[serde(rename = "signatureSecret")]
    pub signature_secret: Option<String>,
}

impl Credentials {
    pub fn from_json(credentials: &serde_json::Value) -> Result<Self, ProviderError> {
        serde_json::from_value(credentials.clone()).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "Vonage credentials must be {\"apiKey\", \"apiSecret\", \"signatureSecret\"?}",
            )
        })
    }
}

/// Vonage's own settings, besides the shared ones.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VonageSettings {
    /// How webhooks are signed: `sha256` (default), `sha512` or `sha1` (HMAC). The legacy
    /// `md5hash` is not supported.
    pub signature_method: String,
}

impl Default for VonageSettings {
    fn default() -> Self {
        Self {
            signature_method: "sha256".to_owned(),
        }
    }
}

impl VonageSettings {
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let own: Self = http::parse_settings(settings, "Vonage")?;
        if !matches!(own.signature_method.as_str(), "sha256" | "sha512" | "sha1") {
            return Err(http::invalid_settings(format!(
                "signature_method {:?} is not supported (use sha256, sha512 or sha1)",
                own.signature_method
            )));
        }
        Ok(own)
    }
}

pub struct Vonage {
    client: GuardedClient,
    base: String,
    creds: Credentials,
    sender: Option<String>,
    callback: Option<String>,
    settings: HttpSettings,
    limiter: Option<RateLimiter>,
}

/// Vonage ids are UUIDs or 16-hex legacy ids: compared in lower case.
pub fn normalise_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

impl Vonage {
    pub fn new(
        config: &ProviderConfig,
        credentials: &serde_json::Value,
        public_url: Option<&str>,
        outbound: &Arc<OutboundPolicy>,
    ) -> Result<Self, ProviderError> {
        let settings = HttpSettings::from_json(&config.settings)?;
        VonageSettings::from_json(&config.settings)?;
        let creds = Credentials::from_json(credentials)?;
        let callback = settings.webhook_url(public_url, "vonage", config);
        Ok(Self {
            client: http::client(&settings, outbound)?,
            base: http::base_url(config, DEFAULT_BASE_URL),
            creds,
            sender: config.sender_id.clone(),
            callback,
            limiter: RateLimiter::new(settings.requests_per_second),
            settings,
        })
    }
}

#[derive(Deserialize)]
struct SendAnswer {
    messages: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "message-price")]
    message_price: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

#[derive(Deserialize)]
struct BalanceAnswer {
    value: f64,
}

/// The kind of a `messages[].status` code (vonage.md §1).
fn part_kind(code: &str) -> ProviderErrorKind {
    match code {
        "1" | "10" => ProviderErrorKind::RateLimited,
        "3" | "6" | "7" | "22" | "33" => ProviderErrorKind::InvalidRecipient,
        "12" => ProviderErrorKind::InvalidContent,
        "4" | "14" => ProviderErrorKind::InvalidCredentials,
        "9" => ProviderErrorKind::InsufficientCredit,
        "5" => ProviderErrorKind::Unavailable,
        // Missing parameter, suspended account, HTTP not enabled, unauthorised sender, bad
        // callback, trial whitelist, signature misuse: ours to fix; fail over.
        _ => ProviderErrorKind::Rejected,
    }
}

/// A DLR `status` (vonage.md §2).
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw {
        "accepted" | "buffered" | "unknown" => DeliveryStatus::Pending,
        "delivered" => DeliveryStatus::Delivered,
        "expired" | "failed" => DeliveryStatus::Undelivered,
        "rejected" => DeliveryStatus::Failed,
        _ => return None,
    })
}

pub fn dlr_error(err_code: &str, status: DeliveryStatus) -> Option<MessageError> {
    if matches!(status, DeliveryStatus::Delivered | DeliveryStatus::Pending) {
        return None;
    }
    let kind = match err_code {
        "3" | "9" | "11" | "12" => ErrorKind::InvalidRecipient,
        "6" | "10" => ErrorKind::InvalidContent,
        _ => ErrorKind::Rejected,
    };
    Some(MessageError {
        kind,
        message: format!("Vonage delivery error {err_code}"),
    })
}

/// The signature of a signed webhook (vonage.md §5): all params but `sig`, sorted by key, as
/// `&key=value…` with `&` and `=` in values replaced by `_`, HMAC'd with the secret; hex.
pub fn signature(method: &str, secret: &str, params: &[(String, String)]) -> Option<String> {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    let mut data = String::new();
    for (k, v) in sorted {
        data.push('&');
        data.push_str(k);
        data.push('=');
        data.push_str(&v.replace(['&', '='], "_"));
    }
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    let key = secret.as_bytes();
    Some(match method {
        "sha256" => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
            mac.update(data.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
        "sha512" => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).ok()?;
            mac.update(data.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
        "sha1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).ok()?;
            mac.update(data.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
        _ => return None,
    })
}

#[async_trait]
impl SmsProvider for Vonage {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        let from = request
            .sender
            .as_ref()
            .or(self.sender.as_ref())
            .ok_or_else(|| {
                ProviderError::new(ProviderErrorKind::Rejected, "Vonage needs a sender id")
            })?;
        // Vonage wants E.164 digits without the `+`, for both numbers.
        let to = request.to.as_str().trim_start_matches('+');
        let from = from.trim_start_matches('+');
        let mut form: Vec<(&str, &str)> = vec![
            ("from", from),
            ("to", to),
            ("text", &request.body),
            ("client-ref", request.message_id.as_str()),
        ];
        // Left at `text`, characters outside GSM-7 would be garbled (vonage.md §1).
        if request.encoding == Encoding::Ucs2 {
            form.push(("type", "unicode"));
        }
        if let Some(callback) = &self.callback {
            form.push(("callback", callback));
        }
        // vonage.md §2: `ttl` in milliseconds, 20 s to 7 days.
        let ttl = request
            .validity
            .map(|v| v.as_millis().clamp(20_000, 604_800_000).to_string());
        if let Some(ttl) = &ttl {
            form.push(("ttl", ttl));
        }
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let outgoing = self
            .client
            .post(http::join(&self.base, "sms/json"))
            .basic_auth(&self.creds.api_key, Some(&self.creds.api_secret))
            .header("Accept", "application/json")
            .form(&form);
        let reply = http::exchange(&self.client, NAME, Call::Send, outgoing, |refused| {
            refused.status_error(NAME)
        })
        .await?;
        let answer: SendAnswer = serde_json::from_str(&reply.body)
            .map_err(|err| http::malformed(NAME, Call::Send, true, err))?;
        let accepted: Vec<&Part> = answer.messages.iter().filter(|p| p.status == "0").collect();
        let failed = answer.messages.iter().find(|p| p.status != "0");
        match (accepted.first(), failed) {
            (Some(first), None) => {
                let Some(id) = first.message_id.as_deref() else {
                    return Err(http::malformed(NAME, Call::Send, true, "no message-id"));
                };
                let price: f64 = accepted
                    .iter()
                    .filter_map(|p| p.message_price.as_deref()?.parse::<f64>().ok())
                    .sum();
                let segments = u32::try_from(accepted.len()).ok();
                let cost = self
                    .settings
                    .price_override(segments.unwrap_or(request.segments))
                    .or_else(|| (price > 0.0).then(|| Money::from_cents(price * 100.0)));
                Ok(SendReceipt {
                    provider_message_id: normalise_id(id),
                    cost,
                    segments,
                })
            }
            (Some(_), Some(part)) => Err(ProviderError::new(
                ProviderErrorKind::Ambiguous,
                format!(
                    "Vonage took {} part(s) and refused another with status {}; not sent again",
                    accepted.len(),
                    http::excerpt(&part.status)
                ),
            )),
            (None, Some(part)) => {
                let kind = part_kind(&part.status);
                let message = format!(
                    "Vonage refused the message: status {} ({})",
                    http::excerpt(&part.status),
                    http::excerpt(part.error_text.as_deref().unwrap_or("no reason given"))
                );
                let err = ProviderError::new(kind, message);
                Err(if kind == ProviderErrorKind::RateLimited {
                    err.with_retry_after(
                        http::retry_after(&reply.headers)
                            .unwrap_or(std::time::Duration::from_secs(1)),
                    )
                } else {
                    err
                })
            }
            (None, None) => Err(http::malformed(
                NAME,
                Call::Send,
                true,
                "no messages in the answer",
            )),
        }
    }

    /// No status endpoint: the provider actor never polls this one.
    fn can_poll_status(&self) -> bool {
        false
    }

    async fn status(&self, _provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        Err(ProviderError::new(
            ProviderErrorKind::Rejected,
            "Vonage's SMS API has no status endpoint; receipts come by webhook",
        ))
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let outgoing = self
            .client
            .get(http::join(&self.base, "account/get-balance"))
            .basic_auth(&self.creds.api_key, Some(&self.creds.api_secret))
            .header("Accept", "application/json");
        let reply = http::exchange(&self.client, NAME, Call::Balance, outgoing, |refused| {
            refused.status_error(NAME)
        })
        .await?;
        let answer: BalanceAnswer = serde_json::from_str(&reply.body)
            .map_err(|err| http::malformed(NAME, Call::Balance, true, err))?;
        Ok(Balance {
            credit: Some(Money::from_cents(answer.value * 100.0)),
        })
    }
}

#[cfg(test)]
mod tests;
