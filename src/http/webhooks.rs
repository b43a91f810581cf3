//! Provider delivery-report webhooks on the public listener. Each receipt is checked (Twilio's
//! signature always, Vonage's when a signature secret is configured), turned into a
//! `DeliveryReport` with the provider's id normalised as its adapter stores it, and handed to
//! the engine, which ignores duplicates and receipts that would move a message backwards.
//!
//! A receipt that fails its check gets 403 and changes nothing. SMSO signs nothing
//! (smso.md §4): its receipts only ever apply to a message SMSO sent under that token.

use crate::{
    http::AppState,
    providers::{
        http::HttpSettings,
        open_credentials, smso, twilio,
        vonage::{self, VonageSettings},
    },
};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
};
use chrono::Utc;
use smsgate_actors::{
    domain::{MessageId, ProviderConfig, ProviderKind},
    ports::DeliveryReport,
};

/// How far a signed Vonage receipt's `timestamp` may be from our clock.
const VONAGE_MAX_SKEW_SECS: i64 = 300;

type Answer = (StatusCode, &'static str);

const OK: Answer = (StatusCode::OK, "");
const FORBIDDEN: Answer = (StatusCode::FORBIDDEN, "signature check failed");
const NOT_FOUND: Answer = (StatusCode::NOT_FOUND, "no such provider");
const BAD: Answer = (StatusCode::BAD_REQUEST, "not a delivery receipt");

async fn provider(state: &AppState, id: &str, kind: ProviderKind) -> Option<ProviderConfig> {
    let view = state.engine.provider(id).await.ok()?;
    (view.config.kind == kind).then_some(view.config)
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn public_url(state: &AppState, config: &ProviderConfig) -> Option<String> {
    HttpSettings::from_json(&config.settings)
        .ok()
        .and_then(|s| s.public_url)
        .or_else(|| state.public_url.clone())
}

/// `POST /webhooks/twilio/{providerId}`: a status callback, signed with the auth token over
/// the public URL Twilio called and the sorted form parameters (twilio.md §7).
pub async fn twilio(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Some(config) = provider(&state, &id, ProviderKind::Twilio).await else {
        return NOT_FOUND;
    };
    let Some(base) = public_url(&state, &config) else {
        tracing::warn!(provider = %config.slug, "a Twilio callback arrived but no public_url is set to check its signature against");
        return FORBIDDEN;
    };
    let Ok(creds) =
        open_credentials(&state.keyring, &config).and_then(|c| twilio::Credentials::from_json(&c))
    else {
        return FORBIDDEN;
    };
    let mut url = crate::providers::http::join(&base, &format!("webhooks/twilio/{id}"));
    if let Some(query) = query {
        url.push('?');
        url.push_str(&query);
    }
    let params = form(&body);
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !twilio::signature_matches(&creds.auth_token, &url, &params, given) {
        tracing::warn!(provider = %config.slug, "a Twilio callback with a bad or missing signature was refused");
        return FORBIDDEN;
    }
    let (Some(sid), Some(raw)) = (
        param(&params, "MessageSid").or(param(&params, "SmsSid")),
        param(&params, "MessageStatus").or(param(&params, "SmsStatus")),
    ) else {
        return BAD;
    };
    let Some(status) = twilio::delivery_status(raw) else {
        return BAD;
    };
    let code = param(&params, "ErrorCode").unwrap_or_default();
    state.engine.report_delivery(DeliveryReport {
        provider: config.slug.clone(),
        provider_message_id: twilio::normalise_id(sid),
        message_id: None,
        status,
        at: Utc::now(),
        error: twilio::async_error(code, status),
    });
    OK
}

/// `POST /webhooks/smso/{providerId}`: SMSO's form-encoded status webhook.
pub async fn smso(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Answer {
    let Some(config) = provider(&state, &id, ProviderKind::Smso).await else {
        return NOT_FOUND;
    };
    let params = form(&body);
    let (Some(uuid), Some(raw)) = (param(&params, "uuid"), param(&params, "status")) else {
        return BAD;
    };
    let Some(status) = smso::delivery_status(raw) else {
        return BAD;
    };
    let at = param(&params, "delivered_at")
        .or(param(&params, "sent_at"))
        .and_then(smso::parse_time)
        .unwrap_or_else(Utc::now);
    state.engine.report_delivery(DeliveryReport {
        provider: config.slug.clone(),
        provider_message_id: smso::normalise_id(uuid),
        message_id: None,
        status,
        at,
        error: smso::status_error(raw),
    });
    OK
}

/// `POST /webhooks/vonage/{providerId}` (and GET, a per-account choice at Vonage): a DLR as a
/// query string, a form or JSON; signed when the credentials carry a signature secret.
pub async fn vonage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Some(config) = provider(&state, &id, ProviderKind::Vonage).await else {
        return NOT_FOUND;
    };
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let mut params = form(query.as_deref().unwrap_or_default().as_bytes());
    if is_json {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&body) else {
            return BAD;
        };
        params.extend(map.into_iter().map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        }));
    } else {
        params.extend(form(&body));
    }
    let Ok(creds) =
        open_credentials(&state.keyring, &config).and_then(|c| vonage::Credentials::from_json(&c))
    else {
        return FORBIDDEN;
    };
    if let Some(secret) = creds.signature_secret.as_deref() {
        let method =
            crate::providers::http::parse_settings::<VonageSettings>(&config.settings, "Vonage")
                .map(|s| s.signature_method)
                .unwrap_or_default();
        let fresh = param(&params, "timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| (Utc::now().timestamp() - t).abs() <= VONAGE_MAX_SKEW_SECS);
        let given = param(&params, "sig")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let expected = vonage::signature(&method, secret, &params).unwrap_or_default();
        use subtle::ConstantTimeEq;
        let valid = !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
        if !(fresh && valid) {
            tracing::warn!(provider = %config.slug, "a Vonage receipt with a bad, stale or missing signature was refused");
            return FORBIDDEN;
        }
    }
    let (Some(message_id), Some(raw)) = (param(&params, "messageId"), param(&params, "status"))
    else {
        return BAD;
    };
    let Some(status) = vonage::delivery_status(raw) else {
        return BAD;
    };
    let err_code = param(&params, "err-code").unwrap_or("0");
    state.engine.report_delivery(DeliveryReport {
        provider: config.slug.clone(),
        provider_message_id: vonage::normalise_id(message_id),
        // We send our id as `client-ref`: it finds the message even for the DLR of a later part.
        message_id: param(&params, "client-ref").and_then(MessageId::parse),
        status,
        at: Utc::now(),
        error: vonage::dlr_error(err_code, status),
    });
    OK
}
