//! The seed's internal REST routes (`/internal/sms/*`), served on the internal listener only.

use crate::http::{
    auth::{require, Limited, Role},
    dto::{SendRequest, SmsLog},
    error::ApiError,
    AppState,
};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};
use smsgate_actors::{EngineError, SendSms};

const SENDERS: &[Role] = &[Role::Admin, Role::Service];

/// `POST /internal/sms/send`: 202 with the stored (QUEUED) message.
pub async fn send(
    State(state): State<AppState>,
    Limited(caller): Limited,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<SmsLog>), ApiError> {
    require(&caller, SENDERS)?;
    // An object only: serde would read a JSON array as the fields in order.
    let request: SendRequest = crate::http::admin::body(body)?;
    let message_type = request.message_type()?;
    let message = state
        .engine
        .send(SendSms {
            to: request.phone_number,
            body: request.message,
            message_type,
            sender: request.sender,
            provider: request.provider,
            idempotency_key: request.idempotency_key,
            validity_secs: request.validity_seconds,
            sent_by: Some(caller.name.clone()),
        })
        .await
        .map_err(rest_field_names)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SmsLog::read_by(&message, caller.role)),
    ))
}

/// `GET /internal/sms/status/{token}`: the message, by smsgate's id. A service token reads only
/// the messages it sent; another's is NOT_FOUND, as if unknown.
pub async fn status(
    State(state): State<AppState>,
    Limited(caller): Limited,
    Path(token): Path<String>,
) -> Result<Json<SmsLog>, ApiError> {
    require(&caller, SENDERS)?;
    let message = state.engine.message(&token).await?;
    if caller.role == Role::Service && message.sent_by.as_deref() != Some(caller.name.as_str()) {
        return Err(EngineError::not_found("message", token).into());
    }
    Ok(Json(SmsLog::read_by(&message, caller.role)))
}

/// `GET /internal/sms/balance`: the credit each running provider reports, in eurocents.
pub async fn balance(
    State(state): State<AppState>,
    Limited(caller): Limited,
) -> Result<Json<Value>, ApiError> {
    require(&caller, SENDERS)?;
    let providers = state.engine.providers().await?;
    let balances: Vec<Value> = providers
        .iter()
        .map(|p| {
            json!({
                "provider": p.config.slug,
                "is_default": p.config.is_default,
                "credit": p.health.credit.map(|c| c.cents()),
                "out_of_credit": p.health.out_of_credit,
            })
        })
        .collect();
    Ok(Json(json!({ "providers": balances })))
}

/// The engine names fields as GraphQL does; REST callers know them by the seed's names.
fn rest_field_names(err: EngineError) -> EngineError {
    match err {
        EngineError::InvalidInput { field, reason } => EngineError::InvalidInput {
            field: match field {
                "to" => "phone_number",
                "body" => "message",
                "idempotencyKey" => "idempotency_key",
                "validity" => "validity_seconds",
                other => other,
            },
            reason,
        },
        other => other,
    }
}
