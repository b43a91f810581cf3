//! What every webhook request passes before its receipt is read: the per-client and
//! per-provider rate limits, the webhook path secret, and the JSON answers they refuse with.

use crate::rate_limit::Buckets;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use std::{net::IpAddr, time::Duration, time::Instant};

/// Receipts per second (each with a burst of twice as many) the webhook routes take; 0 turns a
/// limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// From one client address, whatever it asks for (wrong paths and forgeries included).
    pub per_client_per_second: u32,
    /// For one provider, once the request proved to come from it (secret or signature).
    pub per_provider_per_second: u32,
}

/// The webhook routes' own state: their limits, and whether Vonage receipts must be signed.
#[derive(Debug)]
pub struct WebhookGuard {
    per_client: Option<Buckets>,
    per_provider: Option<Buckets>,
    /// In `prod` mode an unsigned Vonage receipt is refused, so a Vonage provider without a
    /// signature secret takes none: its receipts would be trusted on the path secret alone.
    pub require_vonage_signature: bool,
}

fn buckets(per_second: u32) -> Option<Buckets> {
    (per_second > 0).then(|| Buckets::new(f64::from(per_second), per_second.saturating_mul(2)))
}

impl WebhookGuard {
    pub fn new(limits: WebhookLimits, require_vonage_signature: bool) -> Self {
        Self {
            per_client: buckets(limits.per_client_per_second),
            per_provider: buckets(limits.per_provider_per_second),
            require_vonage_signature,
        }
    }

    /// Takes one request from the client's bucket; `None` client (no address known) is let
    /// through to the per-provider limit.
    pub fn admit_client(&self, client: Option<IpAddr>) -> Result<(), Refusal> {
        match (&self.per_client, client) {
            (Some(b), Some(ip)) => b
                .take(&ip.to_string(), Instant::now())
                .map_err(Refusal::TooMany),
            _ => Ok(()),
        }
    }

    pub fn admit_provider(&self, provider_id: &str) -> Result<(), Refusal> {
        match &self.per_provider {
            Some(b) => b
                .take(provider_id, Instant::now())
                .map_err(Refusal::TooMany),
            None => Ok(()),
        }
    }
}

/// Whether the secret in the request's path is the provider's, in constant time. A provider
/// without one (written before secrets existed and not migrated) matches nothing.
pub fn secret_matches(stored: Option<&str>, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    stored.is_some_and(|s| !given.is_empty() && bool::from(s.as_bytes().ct_eq(given.as_bytes())))
}

/// Why a webhook request changed nothing, answered in the REST error shape.
#[derive(Debug)]
pub enum Refusal {
    /// No such provider of that kind, or a wrong or missing path secret: the same answer, so
    /// the answer tells a guesser nothing.
    NotFound,
    /// A bad, stale or missing signature.
    Forbidden,
    /// Not a receipt this route understands.
    Invalid,
    TooMany(Duration),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", "no such webhook"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "FORBIDDEN", "signature check failed"),
            Self::Invalid => (
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "not a delivery receipt",
            ),
            Self::TooMany(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many webhook requests; try again later",
            ),
        };
        let mut body = json!({ "error": { "code": code, "message": message } });
        let retry_after = match self {
            Self::TooMany(wait) => {
                let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
                body["error"]["retry_after"] = json!(secs);
                Some(secs)
            }
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
