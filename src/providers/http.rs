//! What every HTTP provider shares: the settings common to all of them, one way to build the
//! reqwest client (rustls, pooled connections, explicit timeouts, a user agent), a token bucket
//! for requests per second, and the one classifier from HTTP status / transport error to
//! `ProviderErrorKind`.
//!
//! Error messages built here never carry a secret: no URL (a generic provider's URL may hold a
//! key), no header, no answer body (some providers echo the key back). Text taken from an
//! answer (a provider's error message) is cut to [`MAX_DETAIL_CHARS`], and answers are read up
//! to [`MAX_ANSWER_BYTES`]: a provider URL pointed somewhere else cannot fill `message.error`
//! with what it returned.

use super::outbound::{client::SendError, GuardedClient, OutboundPolicy};
use reqwest::{header::HeaderMap, StatusCode};
use serde::Deserialize;
use smsgate_actors::{
    domain::{Money, ProviderConfig},
    ports::{ProviderError, ProviderErrorKind},
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

/// Sent on every provider call, so a provider's support can tell our traffic apart.
const USER_AGENT: &str = concat!("smsgate/", env!("CARGO_PKG_VERSION"));
/// When a provider says "slow down" without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most of an answer that is read; no provider's answer to one call comes near it.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The most of a provider's own words (an error message) that an error carries.
pub const MAX_DETAIL_CHARS: usize = 200;

/// The settings every HTTP provider reads from its `settings` JSON (the engine reads its own
/// keys, such as `max_concurrency`, from the same object; unknown keys are left alone).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// How long opening a connection (TCP + TLS) may take.
    pub connect_timeout_ms: u64,
    /// How long a whole call may take. A send that times out may have gone out.
    pub request_timeout_ms: u64,
    /// Calls per second this client starts at most (`null`: no limit of ours).
    pub requests_per_second: Option<f64>,
    /// Overrides the provider's reported price: eurocents per SMS part.
    pub price_per_segment_cents: Option<f64>,
    /// The address the provider can reach smsgate at, for webhooks (overrides the global
    /// `public_url`), e.g. `https://sms.example.com`.
    pub public_url: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            request_timeout_ms: 15_000,
            requests_per_second: None,
            price_per_segment_cents: None,
            public_url: None,
        }
    }
}

impl HttpSettings {
    /// Where this provider's webhook calls us back (`{public_url}/webhooks/{kind}/{id}`, then
    /// `/{secret}` for a kind with a webhook secret), when a public URL is known: the
    /// provider's own, else smsgate's. None for a kind that needs a secret and has none: no
    /// URL would take its calls.
    pub fn webhook_url(
        &self,
        global_public_url: Option<&str>,
        kind: &str,
        config: &ProviderConfig,
    ) -> Option<String> {
        let path = match (&config.webhook_secret, config.kind.has_webhook_secret()) {
            (Some(secret), true) => format!("webhooks/{kind}/{}/{secret}", config.id),
            (None, true) => return None,
            (_, false) => format!("webhooks/{kind}/{}", config.id),
        };
        self.public_url
            .as_deref()
            .or(global_public_url)
            .map(|url| join(url, &path))
    }

    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let parsed: Self = parse_settings(settings, "provider")?;
        if parsed.request_timeout_ms == 0 || parsed.connect_timeout_ms == 0 {
            return Err(invalid_settings("timeouts must be more than 0 ms"));
        }
        if let Some(rps) = parsed.requests_per_second {
            if !(rps.is_finite() && rps > 0.0) {
                return Err(invalid_settings(format!(
                    "requests_per_second is {rps}, not a positive rate"
                )));
            }
        }
        if let Some(url) = &parsed.public_url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(invalid_settings(
                    "public_url must be an http:// or https:// URL",
                ));
            }
        }
        if let Some(price) = parsed.price_per_segment_cents {
            if !(price.is_finite() && price >= 0.0) {
                return Err(invalid_settings(format!(
                    "price_per_segment_cents is {price}, not a price"
                )));
            }
        }
        Ok(parsed)
    }

    /// The price override for `segments` parts, when one is configured.
    pub fn price_override(&self, segments: u32) -> Option<Money> {
        self.price_per_segment_cents
            .map(|p| Money::from_cents(p * f64::from(segments)))
    }
}

/// Reads one provider's settings struct; `null` means all defaults.
pub fn parse_settings<T: serde::de::DeserializeOwned + Default>(
    settings: &serde_json::Value,
    what: &str,
) -> Result<T, ProviderError> {
    if settings.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(settings.clone()).map_err(|err| {
        ProviderError::new(
            ProviderErrorKind::Rejected,
            format!("invalid {what} settings: {err}"),
        )
    })
}

pub fn invalid_settings(reason: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Rejected,
        format!("invalid provider settings: {reason}"),
    )
}

/// One pooled client per provider, with the timeouts from its settings, under the outbound
/// policy (no redirects, forbidden addresses refused).
pub fn client(
    settings: &HttpSettings,
    policy: &Arc<OutboundPolicy>,
) -> Result<GuardedClient, ProviderError> {
    let builder = || {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(90))
    };
    GuardedClient::build(builder, policy.clone(), true).map_err(|err| {
        ProviderError::new(
            ProviderErrorKind::Rejected,
            "could not build the HTTP client",
        )
        .with_source(err.without_url())
    })
}

/// Sends a call through the guarded client. A call the outbound policy refuses never left:
/// `Rejected` (another provider may take the message), naming the host and the setting.
pub async fn send(
    client: &GuardedClient,
    provider: &str,
    call: Call,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    client.send(request).await.map_err(|err| match err {
        SendError::Refused(refused) => ProviderError::new(
            ProviderErrorKind::Rejected,
            format!("{provider}: {refused}"),
        ),
        SendError::Http(err) => transport_error(provider, call, err),
    })
}

/// A token bucket: `rate` calls per second, bursts up to one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate: Option<f64>) -> Option<Self> {
        rate.map(|rate| Self {
            rate,
            state: Mutex::new((rate.max(1.0), Instant::now())),
        })
    }

    /// Waits until a call may start.
    pub async fn acquire(limiter: Option<&Self>) {
        let Some(limiter) = limiter else {
            return;
        };
        loop {
            let wait = {
                let mut state = limiter
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let burst = limiter.rate.max(1.0);
                let elapsed = now.saturating_duration_since(state.1).as_secs_f64();
                state.0 = (state.0 + elapsed * limiter.rate).min(burst);
                state.1 = now;
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.0) / limiter.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Which call failed: a send that may have reached the provider is ambiguous, not retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Send,
    Status,
    Balance,
}

/// A transport failure. A send that timed out or broke after the request could have been
/// written is `Ambiguous` (smso.md: no idempotency key exists; a retry may double-send); a
/// refused connection never reached the provider and is `Unavailable`, safe to retry.
pub fn transport_error(provider: &str, call: Call, err: reqwest::Error) -> ProviderError {
    let err = err.without_url();
    let never_sent = err.is_connect() || err.is_builder();
    let (kind, message) = if call == Call::Send && !never_sent {
        (
            ProviderErrorKind::Ambiguous,
            if err.is_timeout() {
                format!("{provider} did not answer the send in time; it may have gone out, so it is not sent again")
            } else {
                format!("the connection to {provider} broke during the send; it may have gone out, so it is not sent again")
            },
        )
    } else if err.is_timeout() {
        (
            ProviderErrorKind::Timeout,
            format!("{provider} did not answer in time"),
        )
    } else if err.is_connect() {
        (
            ProviderErrorKind::Unavailable,
            format!("could not connect to {provider}"),
        )
    } else {
        (
            ProviderErrorKind::Unavailable,
            format!("the call to {provider} failed"),
        )
    };
    ProviderError::new(kind, message).with_source(err)
}

/// The design's kinds from an HTTP status alone, for answers a provider does not explain
/// better (each adapter refines with its own codes first).
pub fn classify_status(status: StatusCode) -> ProviderErrorKind {
    match status.as_u16() {
        401 | 403 => ProviderErrorKind::InvalidCredentials,
        402 => ProviderErrorKind::InsufficientCredit,
        429 => ProviderErrorKind::RateLimited,
        408 | 504 => ProviderErrorKind::Timeout,
        500..=599 => ProviderErrorKind::Unavailable,
        // Another 4xx: the provider refused what we sent; another provider may not.
        _ => ProviderErrorKind::Rejected,
    }
}

/// An error from an HTTP answer: the kind, a message naming the provider and the status, and
/// `retry_after` from the `Retry-After` header when the kind is `RateLimited`.
pub fn status_error(
    provider: &str,
    kind: ProviderErrorKind,
    status: StatusCode,
    headers: &HeaderMap,
    detail: Option<&str>,
) -> ProviderError {
    let message = match detail {
        Some(detail) => format!(
            "{provider} answered {}: {}",
            status.as_u16(),
            excerpt(detail)
        ),
        None => format!("{provider} answered {}", status.as_u16()),
    };
    let err = ProviderError::new(kind, message);
    if kind == ProviderErrorKind::RateLimited {
        err.with_retry_after(retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER))
    } else {
        err
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// An answer that could not be read. For a send with a success status it is `Ambiguous` (the
/// provider took something, we cannot tell what); otherwise `Unavailable`, retried.
pub fn malformed(
    provider: &str,
    call: Call,
    accepted: bool,
    err: impl std::fmt::Display,
) -> ProviderError {
    if call == Call::Send && accepted {
        ProviderError::new(
            ProviderErrorKind::Ambiguous,
            format!(
                "{provider} accepted the send but its answer could not be read ({}); not sent again",
                excerpt(&err.to_string())
            ),
        )
    } else {
        ProviderError::new(
            ProviderErrorKind::Unavailable,
            format!(
                "{provider} gave an answer that could not be read ({})",
                excerpt(&err.to_string())
            ),
        )
    }
}

/// Joins a base URL and a path with exactly one slash.
/// The configured base URL, or the provider's documented default.
pub fn base_url(config: &ProviderConfig, default: &str) -> String {
    config
        .api_base_url
        .clone()
        .unwrap_or_else(|| default.to_owned())
}

pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Reads the body of an answer as text, at most [`MAX_ANSWER_BYTES`] of it (the rest is not
/// read: a cut JSON answer then fails to parse, as a garbled one does), classifying a broken
/// read like a transport error.
pub async fn body_text(
    provider: &str,
    call: Call,
    mut response: reqwest::Response,
) -> Result<String, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(provider, call, err))?
    {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            tracing::warn!(
                provider,
                limit = MAX_ANSWER_BYTES,
                "the answer is larger than the limit; the rest is not read"
            );
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A provider's own words, cut to [`MAX_DETAIL_CHARS`] on one line, for an error message.
pub fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_DETAIL_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_DETAIL_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
