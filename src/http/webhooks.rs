//! Provider delivery-report webhooks on the public listener. Each receipt is checked (Twilio's
//! signature always; SMSO's and Vonage's random secret in the path, and Vonage's signature when
//! a signature secret is configured, always in `prod` mode), turned into a `DeliveryReport`
//! with the provider's id normalised as its adapter stores it, and handed to the engine, which
//! applies it only to a message that provider sent and ignores duplicates and receipts that
//! would move a message backwards.
//!
//! A wrong or missing path secret gets 404 and a bad signature 403; either changes nothing.
//! Requests are rate limited per client address (all of them) and per provider (those that
//! proved to come from it), with 429 beyond.

mod guard;

pub use guard::{WebhookGuard, WebhookLimits};

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
    extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State},
    http::{request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Router,
};
use chrono::Utc;
use guard::{secret_matches, Refusal};
use smsgate_actors::{
    domain::{MessageId, ProviderConfig, ProviderKind},
    ports::DeliveryReport,
};
use std::net::{IpAddr, SocketAddr};

/// How far a signed Vonage receipt's `timestamp` may be from our clock.
const VONAGE_MAX_SKEW_SECS: i64 = 300;

/// The webhook routes. The paths from before SMSO and Vonage had a secret answer 404, as a
/// wrong secret does.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/{provider_id}", post(twilio))
        .route(
            "/webhooks/vonage/{provider_id}/{secret}",
            post(vonage).get(vonage),
        )
        .route("/webhooks/smso/{provider_id}/{secret}", post(smso))
        .route("/webhooks/vonage/{provider_id}", any(without_secret))
        .route("/webhooks/smso/{provider_id}", any(without_secret))
}

/// The caller's address, when the listener records it (it does for the public one).
pub struct ClientIp(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

async fn without_secret(State(state): State<AppState>, ClientIp(client): ClientIp) -> Response {
    match state.webhooks.admit_client(client) {
        Ok(()) => Refusal::NotFound.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The provider of `kind` named by the path, after the client's rate limit.
async fn provider(
    state: &AppState,
    client: Option<IpAddr>,
    id: &str,
    kind: ProviderKind,
) -> Result<ProviderConfig, Refusal> {
    state.webhooks.admit_client(client)?;
    let view = state
        .engine
        .provider(id)
        .await
        .map_err(|_| Refusal::NotFound)?;
    if view.config.kind != kind {
        return Err(Refusal::NotFound);
    }
    Ok(view.config)
}

/// The provider of `kind` named by the path, whose secret the path carries.
async fn provider_with_secret(
    state: &AppState,
    client: Option<IpAddr>,
    id: &str,
    secret: &str,
    kind: ProviderKind,
) -> Result<ProviderConfig, Refusal> {
    let config = provider(state, client, id, kind).await?;
    if !secret_matches(config.webhook_secret.as_deref(), secret) {
        tracing::info!(provider = ?config.slug, "a webhook call with a wrong path secret was refused");
        return Err(Refusal::NotFound);
    }
    Ok(config)
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
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let config = provider(&state, client, &id, ProviderKind::Twilio).await?;
    let Some(base) = public_url(&state, &config) else {
        tracing::warn!(provider = ?config.slug, "a Twilio callback arrived but no public_url is set to check its signature against");
        return Err(Refusal::Forbidden);
    };
    let Ok(creds) =
        open_credentials(&state.keyring, &config).and_then(|c| twilio::Credentials::from_json(&c))
    else {
        return Err(Refusal::Forbidden);
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
        tracing::warn!(provider = ?config.slug, "a Twilio callback with a bad or missing signature was refused");
        return Err(Refusal::Forbidden);
    }
    state.webhooks.admit_provider(config.id.as_str())?;
    let (Some(sid), Some(raw)) = (
        param(&params, "MessageSid").or(param(&params, "SmsSid")),
        param(&params, "MessageStatus").or(param(&params, "SmsStatus")),
    ) else {
        return Err(Refusal::Invalid);
    };
    let Some(status) = twilio::delivery_status(raw) else {
        return Err(Refusal::Invalid);
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
    Ok(ok())
}

/// `POST /webhooks/smso/{providerId}/{secret}`: SMSO's form-encoded status webhook. SMSO signs
/// nothing (smso.md §4): the path secret is what tells its calls apart from forgeries.
pub async fn smso(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path((id, secret)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Refusal> {
    let config = provider_with_secret(&state, client, &id, &secret, ProviderKind::Smso).await?;
    state.webhooks.admit_provider(config.id.as_str())?;
    let params = form(&body);
    let (Some(uuid), Some(raw)) = (param(&params, "uuid"), param(&params, "status")) else {
        return Err(Refusal::Invalid);
    };
    let Some(status) = smso::delivery_status(raw) else {
        return Err(Refusal::Invalid);
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
    Ok(ok())
}

/// `POST /webhooks/vonage/{providerId}/{secret}` (and GET, a per-account choice at Vonage): a
/// DLR as a query string, a form or JSON; signed when the credentials carry a signature secret,
/// which `prod` mode requires.
pub async fn vonage(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path((id, secret)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let config = provider_with_secret(&state, client, &id, &secret, ProviderKind::Vonage).await?;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let mut params = form(query.as_deref().unwrap_or_default().as_bytes());
    if is_json {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&body) else {
            return Err(Refusal::Invalid);
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
        return Err(Refusal::Forbidden);
    };
    if creds.signature_secret.is_none() && state.webhooks.require_vonage_signature {
        tracing::warn!(provider = ?config.slug, "a Vonage receipt was refused: in prod mode Vonage receipts must be signed, and this provider has no signatureSecret");
        return Err(Refusal::Forbidden);
    }
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
            tracing::warn!(provider = ?config.slug, "a Vonage receipt with a bad, stale or missing signature was refused");
            return Err(Refusal::Forbidden);
        }
    }
    state.webhooks.admit_provider(config.id.as_str())?;
    let (Some(message_id), Some(raw)) = (param(&params, "messageId"), param(&params, "status"))
    else {
        return Err(Refusal::Invalid);
    };
    let Some(status) = vonage::delivery_status(raw) else {
        return Err(Refusal::Invalid);
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
    Ok(ok())
}
