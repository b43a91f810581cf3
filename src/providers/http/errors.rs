//! From what went wrong on the wire to the design's `ProviderErrorKind`s: transport failures,
//! HTTP statuses (with `Retry-After`), answers that cannot be read, and a provider's own words
//! cut to size for a message.

use reqwest::{header::HeaderMap, StatusCode};
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};
use std::time::Duration;

/// When a provider says "slow down" without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most of a provider's own words (an error message) that an error carries.
pub const MAX_DETAIL_CHARS: usize = 200;

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
