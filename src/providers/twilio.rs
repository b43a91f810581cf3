//! Twilio Programmable Messaging (API 2010-04-01), as ../shared/providers/twilio.md describes
//! it: the Messages resource (form-encoded, Basic auth with the account SID and auth token,
//! `StatusCallback` pointing at smsgate's webhook), fetch by SID, the account balance, Twilio's
//! error codes mapped to the design's kinds, and the `X-Twilio-Signature` check.
//!
//! Twilio has no idempotency key for creating a message: a send that times out is `Ambiguous`,
//! and is settled by listing the account's messages (see `lookup`).

use super::{
    http::{self, Answer, Call, HttpSettings, RateLimiter},
    outbound::{GuardedClient, OutboundPolicy},
};
use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use smsgate_actors::{
    domain::{event::ErrorKind, MessageError, Money, ProviderConfig},
    ports::{
        Balance, DeliveryStatus, ProviderError, ProviderErrorKind, SendLookup, SendReceipt,
        SendRequest, SmsProvider, StatusReport,
    },
};
use std::sync::Arc;

mod lookup;

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
const NAME: &str = "Twilio";

/// Twilio's own settings, besides the shared ones in `HttpSettings`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct TwilioSettings {
    /// `MG…`: let Twilio pick the sender from this Messaging Service instead of `From`.
    pub messaging_service_sid: Option<String>,
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(rename = "accountSid")]
    pub account_sid: String,
    #[serde(rename = "authToken")]
    pub auth_token: String,
}

impl Credentials {
    pub fn from_json(credentials: &serde_json::Value) -> Result<Self, ProviderError> {
        serde_json::from_value(credentials.clone()).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                "Twilio credentials must be {\"accountSid\": \"AC...\", \"authToken\": \"...\"}",
            )
        })
    }
}

pub struct Twilio {
    client: GuardedClient,
    base: String,
    creds: Credentials,
    sender: Option<String>,
    status_callback: Option<String>,
    settings: HttpSettings,
    own: TwilioSettings,
    limiter: Option<RateLimiter>,
}

/// Twilio SIDs are case-sensitive; only stray whitespace is dropped.
pub fn normalise_id(id: &str) -> String {
    id.trim().to_owned()
}

impl Twilio {
    pub fn new(
        config: &ProviderConfig,
        credentials: &serde_json::Value,
        public_url: Option<&str>,
        outbound: &Arc<OutboundPolicy>,
    ) -> Result<Self, ProviderError> {
        let settings = HttpSettings::from_json(&config.settings)?;
        let own: TwilioSettings = http::parse_settings(&config.settings, "Twilio")?;
        let creds = Credentials::from_json(credentials)?;
        let status_callback = settings.webhook_url(public_url, "twilio", config);
        Ok(Self {
            client: http::client(&settings, outbound)?,
            base: http::base_url(config, DEFAULT_BASE_URL),
            creds,
            sender: config.sender_id.clone(),
            status_callback,
            limiter: RateLimiter::new(settings.requests_per_second),
            settings,
            own,
        })
    }

    fn url(&self, rest: &str) -> String {
        http::join(
            &self.base,
            &format!("2010-04-01/Accounts/{}/{rest}", self.creds.account_sid),
        )
    }

    /// One authenticated call, paced by the token bucket: the body of a successful answer.
    async fn call(
        &self,
        call: Call,
        request: reqwest::RequestBuilder,
    ) -> Result<String, ProviderError> {
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let request = request
            .basic_auth(&self.creds.account_sid, Some(&self.creds.auth_token))
            .header("Accept", "application/json");
        let answer = http::exchange(&self.client, NAME, call, request, api_error).await?;
        Ok(answer.body)
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: Option<i64>,
    message: Option<String>,
}

/// The kind of a synchronous Twilio error code (twilio.md §8), when the code says more than
/// the HTTP status.
fn sync_kind(code: i64) -> Option<ProviderErrorKind> {
    Some(match code {
        20003 => ProviderErrorKind::InvalidCredentials,
        20429 => ProviderErrorKind::RateLimited,
        // Invalid, unsubscribed, non-mobile or landline `To`: no provider will do better.
        21211 | 21610 | 21614 | 21635 => ProviderErrorKind::InvalidRecipient,
        21617 => ProviderErrorKind::InvalidContent,
        // Geo permissions, `From` problems, trial restrictions: ours to fix; fail over.
        21408 | 21606 | 21212 | 21608 => ProviderErrorKind::Rejected,
        _ => return None,
    })
}

/// The error for an answer Twilio refused: its error code when it gives a known one, else the
/// HTTP status.
fn api_error(refused: &Answer) -> ProviderError {
    let status = refused.status;
    let answer: Option<ErrorAnswer> = serde_json::from_str(&refused.body).ok();
    let code = answer.as_ref().and_then(|a| a.code);
    let kind = code
        .and_then(sync_kind)
        .unwrap_or_else(|| http::classify_status(status));
    // Twilio's message names the number or the field, never the credentials.
    let detail = answer.and_then(|a| match (code, a.message) {
        (Some(code), Some(message)) => Some(format!("{code} {message}")),
        (Some(code), None) => Some(code.to_string()),
        (None, message) => message,
    });
    http::status_error(NAME, kind, status, &refused.headers, detail.as_deref())
}

#[derive(Deserialize)]
struct MessageAnswer {
    sid: String,
    status: Option<String>,
    num_segments: Option<String>,
    price: Option<String>,
    error_code: Option<i64>,
    date_updated: Option<String>,
}

#[derive(Deserialize)]
struct BalanceAnswer {
    balance: String,
}

/// Twilio's message statuses (twilio.md §3); `None` for one it does not document.
pub fn delivery_status(raw: &str) -> Option<DeliveryStatus> {
    Some(match raw {
        // `sent` may be final when the carrier never confirms; it is kept as pending.
        "accepted" | "scheduled" | "queued" | "sending" | "sent" => DeliveryStatus::Pending,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" | "partially_delivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// The error recorded for an asynchronous code (`ErrorCode` / `error_code`).
pub fn async_error(code: &str, status: DeliveryStatus) -> Option<MessageError> {
    if status == DeliveryStatus::Delivered || status == DeliveryStatus::Pending {
        return None;
    }
    let (kind, words) = match code {
        "30003" => (ErrorKind::InvalidRecipient, "unreachable handset"),
        "30005" => (ErrorKind::InvalidRecipient, "unknown handset or number"),
        "30006" => (
            ErrorKind::InvalidRecipient,
            "landline or unreachable carrier",
        ),
        "30004" => (ErrorKind::Rejected, "message blocked"),
        "30007" => (ErrorKind::InvalidContent, "filtered by the carrier"),
        "30001" => (ErrorKind::RateLimited, "queue overflow"),
        "" => (ErrorKind::Rejected, "no reason given"),
        _ => (ErrorKind::Rejected, "see Twilio's error reference"),
    };
    Some(MessageError {
        kind,
        message: if code.is_empty() {
            format!("Twilio: {words}")
        } else {
            format!("Twilio error {}: {words}", http::excerpt(code))
        },
    })
}

/// A Twilio price (`"-0.00750"`, in the account's currency) as a positive amount in cents.
fn price_cents(raw: Option<&str>) -> Option<Money> {
    let value: f64 = raw?.trim().parse().ok()?;
    Some(Money::from_cents(value.abs() * 100.0))
}

#[async_trait]
impl SmsProvider for Twilio {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        let mut form: Vec<(&str, &str)> =
            vec![("To", request.to.as_str()), ("Body", &request.body)];
        match (
            &self.own.messaging_service_sid,
            request.sender.as_ref().or(self.sender.as_ref()),
        ) {
            (Some(service), _) => form.push(("MessagingServiceSid", service)),
            (None, Some(from)) => form.push(("From", from)),
            (None, None) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Rejected,
                    "Twilio needs a sender id (a Twilio number) or messaging_service_sid",
                ))
            }
        }
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback));
        }
        // twilio.md §2: how long it may wait in Twilio's queue, 1 to 36000 seconds.
        let validity = request
            .validity
            .map(|v| v.as_secs().clamp(1, 36_000).to_string());
        if let Some(validity) = &validity {
            form.push(("ValidityPeriod", validity));
        }
        let body = self
            .call(
                Call::Send,
                self.client.post(self.url("Messages.json")).form(&form),
            )
            .await?;
        let answer: MessageAnswer = serde_json::from_str(&body)
            .map_err(|err| http::malformed(NAME, Call::Send, true, err))?;
        // "0" while a Messaging Service has not chosen the sender yet: keep our own count.
        let segments = answer
            .num_segments
            .as_deref()
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|n| *n > 0);
        let cost = self
            .settings
            .price_override(segments.unwrap_or(request.segments))
            .or_else(|| price_cents(answer.price.as_deref()));
        Ok(SendReceipt {
            provider_message_id: normalise_id(&answer.sid),
            cost,
            segments,
        })
    }

    async fn status(&self, provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        let url = self.url(&format!("Messages/{provider_message_id}.json"));
        let body = self.call(Call::Status, self.client.get(url)).await?;
        let answer: MessageAnswer = serde_json::from_str(&body)
            .map_err(|err| http::malformed(NAME, Call::Status, true, err))?;
        let raw = answer.status.as_deref().unwrap_or_default();
        let status = delivery_status(raw).ok_or_else(|| {
            http::malformed(NAME, Call::Status, true, format!("unknown status {raw:?}"))
        })?;
        let code = answer.error_code.map(|c| c.to_string()).unwrap_or_default();
        Ok(StatusReport {
            status,
            at: answer
                .date_updated
                .as_deref()
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .map(|d| d.with_timezone(&Utc)),
            error: async_error(&code, status),
            cost: price_cents(answer.price.as_deref()),
        })
    }

    fn can_look_up_sends(&self) -> bool {
        true
    }

    async fn look_up_send(
        &self,
        request: &SendRequest,
        since: DateTime<Utc>,
    ) -> Result<SendLookup, ProviderError> {
        lookup::look_up_send(self, request, since).await
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        let body = self
            .call(Call::Balance, self.client.get(self.url("Balance.json")))
            .await?;
        let answer: BalanceAnswer = serde_json::from_str(&body)
            .map_err(|err| http::malformed(NAME, Call::Balance, true, err))?;
        let value: f64 = answer
            .balance
            .trim()
            .parse()
            .map_err(|err| http::malformed(NAME, Call::Balance, true, err))?;
        Ok(Balance {
            credit: Some(Money::from_cents(value * 100.0)),
        })
    }
}

/// `X-Twilio-Signature` (twilio.md §7): Base64(HMAC-SHA1(auth token, URL + each POST parameter
/// name and value, names sorted, each name's values sorted and deduplicated)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()) else {
        // HMAC takes a key of any length; this arm is never reached.
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a signature in constant time, over the URL as given and over it with its port
/// toggled: Twilio may sign the URL with the scheme's default port (`:443`) spelled out, and
/// its own validators accept both forms (twilio.md §7).
pub fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    use subtle::ConstantTimeEq;
    let given = given.trim();
    let check = |url: &str| {
        let expected = signature(auth_token, url, params);
        bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
    };
    !given.is_empty() && (check(url) || port_toggled(url).is_some_and(|other| check(&other)))
}

/// `url` with the scheme's default port added when it names none, or without its port when it
/// names one, as Twilio's validators try it; `None` for a scheme other than http(s).
fn port_toggled(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let default = match url[..scheme_end].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    // An IPv6 literal's colons sit inside its brackets; a port comes after them.
    let port_colon = url[host_start..end]
        .rfind(':')
        .filter(|&i| !url[host_start + i..end].contains(']'))
        .map(|i| host_start + i);
    Some(match port_colon {
        Some(colon) => format!("{}{}", &url[..colon], &url[end..]),
        None => format!("{}:{default}{}", &url[..end], &url[end..]),
    })
}

#[cfg(test)]
mod tests;
