//! The seed's admin REST routes (`/api/admin/sms/*`) on the public listener, over the same
//! engine calls as the GraphQL resolvers: providers (list, show, change, activate, test-send),
//! statistics and message logs. Admins may do everything; viewers may read.

use crate::http::{
    admin_dto::{
        time_bound, DailyDto, LogParams, ProviderDto, ProviderUpdate, StatisticsParams, TestRequest,
    },
    auth::{require, Caller, Limited, Role},
    dto::SmsLog,
    error::ApiError,
    AppState,
};
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    Json,
};
use serde_json::{json, Value};
use smsgate_actors::domain::{provider_snapshot, test_sms_snapshot, AuditAction, AuditRecord};
use smsgate_actors::{
    domain::{
        event::ErrorKind, MessageFilter, MessageId, MessageStatus, MessageType, PageRequest,
        StatsGroupBy, StatsQuery, E164,
    },
    EngineError,
};
use smsgate_graphql::statistics::MAX_HOUR_DAYS;
use std::time::Duration;

const WRITERS: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Viewer];
/// How long the test route waits for a final state before answering with the message as it is.
const TEST_SMS_WAIT: Duration = Duration::from_secs(15);
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
/// Default statistics window when `from` is not given, and the longest one allowed.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 3 * 366;

/// A JSON object read as `T`. Anything else (an array, which serde would read field by field
/// in order, or a bare value) is refused before it is read.
pub(crate) fn body<T: serde::de::DeserializeOwned>(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<T, EngineError> {
    let Json(value) =
        body.map_err(|rejection| EngineError::invalid("body", rejection.body_text()))?;
    if !value.is_object() {
        return Err(EngineError::invalid("body", "must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|err| EngineError::invalid("body", err.to_string()))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, EngineError> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| EngineError::invalid("query", rejection.body_text()))
}

/// Records an admin action; a failure is logged by the audit log and does not undo the
/// action, which already happened.
async fn record(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    let record = AuditRecord::new(caller.name.clone(), action, Some(target.to_owned()))
        .with_change(before, after);
    let _ = state.audit.record(record).await;
}

/// `GET /api/admin/sms/providers`.
pub async fn list_providers(
    State(state): State<AppState>,
    Limited(caller): Limited,
) -> Result<Json<Value>, ApiError> {
    require(&caller, READERS)?;
    let views = state.engine.configured_providers().await?;
    let providers: Vec<ProviderDto> = views.iter().map(ProviderDto::from).collect();
    Ok(Json(json!({ "providers": providers })))
}

/// `GET /api/admin/sms/providers/{id}` (id or slug).
pub async fn show_provider(
    State(state): State<AppState>,
    Limited(caller): Limited,
    Path(id): Path<String>,
) -> Result<Json<ProviderDto>, ApiError> {
    require(&caller, READERS)?;
    let view = state.engine.configured_provider(&id).await?;
    Ok(Json(ProviderDto::from(&view)))
}

/// `PUT /api/admin/sms/providers/{id}`: a partial change, live before it answers.
pub async fn update_provider(
    State(state): State<AppState>,
    Limited(caller): Limited,
    Path(id): Path<String>,
    update: Result<Json<Value>, JsonRejection>,
) -> Result<Json<ProviderDto>, ApiError> {
    require(&caller, WRITERS)?;
    let patch = body::<ProviderUpdate>(update)?.into_patch()?;
    tracing::info!(caller = %caller.name, provider_id = %id, "REST update provider");
    let before = state.engine.configured_provider(&id).await?.config;
    let view = state
        .engine
        .update_provider(&before.id.to_string(), patch)
        .await
        .map_err(rest_credential_fields)?;
    record(
        &state,
        &caller,
        AuditAction::ProviderUpdated,
        &view.config.id.to_string(),
        Some(provider_snapshot(&before)),
        Some(provider_snapshot(&view.config)),
    )
    .await;
    Ok(Json(ProviderDto::from(&view)))
}

/// `POST /api/admin/sms/providers/{id}/activate`: the default from now on.
pub async fn activate_provider(
    State(state): State<AppState>,
    Limited(caller): Limited,
    Path(id): Path<String>,
) -> Result<Json<ProviderDto>, ApiError> {
    require(&caller, WRITERS)?;
    tracing::info!(caller = %caller.name, provider_id = %id, "REST activate provider");
    let before = state.engine.configured_provider(&id).await?.config;
    let view = state
        .engine
        .activate_provider(&before.id.to_string())
        .await?;
    record(
        &state,
        &caller,
        AuditAction::ProviderActivated,
        &view.config.id.to_string(),
        Some(provider_snapshot(&before)),
        Some(provider_snapshot(&view.config)),
    )
    .await;
    Ok(Json(ProviderDto::from(&view)))
}

/// `POST /api/admin/sms/providers/{id}/test`: one message through this provider only.
pub async fn test_provider(
    State(state): State<AppState>,
    Limited(caller): Limited,
    Path(id): Path<String>,
    request: Result<Json<Value>, JsonRejection>,
) -> Result<Json<SmsLog>, ApiError> {
    require(&caller, WRITERS)?;
    let request: TestRequest = body(request)?;
    tracing::info!(caller = %caller.name, provider_id = %id, "REST test provider");
    let message = state
        .engine
        .send_test(&id, &request.phone_number, &request.message, TEST_SMS_WAIT)
        .await
        .map_err(|err| match err {
            EngineError::InvalidInput {
                field: "to",
                reason,
            } => EngineError::InvalidInput {
                field: "phone_number",
                reason,
            },
            EngineError::InvalidInput {
                field: "body",
                reason,
            } => EngineError::InvalidInput {
                field: "message",
                reason,
            },
            other => other,
        })?;
    record(
        &state,
        &caller,
        AuditAction::ProviderTestSms,
        &id,
        None,
        Some(test_sms_snapshot(&message)),
    )
    .await;
    Ok(Json(SmsLog::from(&message)))
}

/// `GET /api/admin/sms/statistics?from=&to=&provider=&message_type=&group_by=&by_type=`: per
/// provider per day or hour; by default the last 30 days up to today (UTC).
pub async fn statistics(
    State(state): State<AppState>,
    Limited(caller): Limited,
    params: Result<Query<StatisticsParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require(&caller, READERS)?;
    let params = query(params)?;
    let to = params.to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = params
        .from
        .unwrap_or_else(|| to - chrono::Duration::days(DEFAULT_DAYS - 1));
    if to < from {
        return Err(EngineError::invalid("to", "must not be before `from`").into());
    }
    if (to - from).num_days() > MAX_DAYS {
        return Err(
            EngineError::invalid("to", format!("at most {MAX_DAYS} days after `from`")).into(),
        );
    }
    let group_by = match enum_param("group_by", &params.group_by)? {
        None => StatsGroupBy::Day,
        Some(g) if g.eq_ignore_ascii_case("day") => StatsGroupBy::Day,
        Some(g) if g.eq_ignore_ascii_case("hour") => StatsGroupBy::Hour,
        Some(_) => return Err(EngineError::invalid("group_by", "must be `day` or `hour`").into()),
    };
    if group_by == StatsGroupBy::Hour && (to - from).num_days() > MAX_HOUR_DAYS {
        return Err(EngineError::invalid(
            "to",
            format!("at most {MAX_HOUR_DAYS} days after `from` when grouped by hour"),
        )
        .into());
    }
    let message_type = match enum_param("message_type", &params.message_type)? {
        None => None,
        Some(t) => Some(MessageType::parse(t).ok_or_else(|| {
            EngineError::invalid("message_type", "must be otp, transactional or marketing")
        })?),
    };
    let rows = state
        .engine
        .statistics(StatsQuery {
            from,
            to,
            provider: params.provider.filter(|p| !p.trim().is_empty()),
            message_type,
            group_by,
            by_type: params.by_type.unwrap_or(false),
        })
        .await?;
    let rows: Vec<DailyDto> = rows.into_iter().map(DailyDto::from).collect();
    Ok(Json(
        json!({ "from": from.to_string(), "to": to.to_string(), "statistics": rows }),
    ))
}

/// `GET /api/admin/sms/logs?...`: messages newest first, `limit` at a time (default 50, at most
/// 200); pass `next_cursor` as `cursor` for the next page.
pub async fn logs(
    State(state): State<AppState>,
    Limited(caller): Limited,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require(&caller, READERS)?;
    let params = query(params)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(EngineError::invalid("limit", format!("between 1 and {MAX_PAGE}")).into());
    }
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            MessageId::parse(raw)
                .ok_or_else(|| EngineError::invalid("cursor", "not a cursor from this API"))?,
        ),
    };
    let filter = log_filter(&params)?;
    if caller.role == Role::Viewer && filter.to.is_some() {
        // Numbers are masked for viewers: a full-number filter would unmask them.
        return Err(ApiError::Forbidden { allowed: WRITERS });
    }
    let page = state
        .engine
        .messages(
            &filter,
            &PageRequest {
                first: limit,
                after,
            },
        )
        .await?;
    let next_cursor = page
        .has_next_page
        .then(|| page.items.last().map(|m| m.id.to_string()))
        .flatten();
    let logs: Vec<SmsLog> = page
        .items
        .iter()
        .map(|m| SmsLog::read_by(m, caller.role))
        .collect();
    Ok(Json(json!({ "logs": logs, "next_cursor": next_cursor })))
}

/// A query parameter given with something in it: `?provider=` means no filter.
fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An enum query parameter: absent means no filter, but `?status=` is refused rather than read
/// as "any", so a caller's empty variable never widens what they asked for.
pub(crate) fn enum_param<'a>(
    name: &'static str,
    value: &'a Option<String>,
) -> Result<Option<&'a str>, EngineError> {
    match value.as_deref().map(str::trim) {
        Some("") => Err(EngineError::invalid(
            name,
            "must not be empty; leave the parameter out for no filter",
        )),
        other => Ok(other),
    }
}

fn log_filter(params: &LogParams) -> Result<MessageFilter, EngineError> {
    Ok(MessageFilter {
        status: enum_param("status", &params.status)?
            .map(|raw| {
                MessageStatus::parse(raw).ok_or_else(|| {
                    EngineError::invalid(
                        "status",
                        "one of queued, sending, sent, delivered, undelivered, retrying, failed, expired",
                    )
                })
            })
            .transpose()?,
        provider: nonempty(&params.provider).map(str::to_owned),
        message_type: enum_param("message_type", &params.message_type)?
            .map(|raw| {
                MessageType::parse(raw).ok_or_else(|| {
                    EngineError::invalid("message_type", "one of otp, transactional, marketing")
                })
            })
            .transpose()?,
        to: nonempty(&params.phone_number)
            .map(|raw| E164::parse(raw).map_err(|e| EngineError::invalid("phone_number", e.to_string())))
            .transpose()?,
        created_from: nonempty(&params.from)
            .map(|raw| time_bound("from", raw, false))
            .transpose()?,
        created_to: nonempty(&params.to)
            .map(|raw| time_bound("to", raw, true))
            .transpose()?,
        error_kind: enum_param("error_kind", &params.error_kind)?
            .map(|raw| {
                ErrorKind::parse(&raw.to_ascii_uppercase()).ok_or_else(|| {
                    EngineError::invalid("error_kind", "an error kind such as invalid_recipient or timeout")
                })
            })
            .transpose()?,
        sent_by: None,
    })
}

/// The engine names credential fields as GraphQL does (`credentials.apiKey`); REST callers
/// wrote them in snake_case.
fn rest_credential_fields(err: EngineError) -> EngineError {
    match err {
        EngineError::InvalidInput { field, reason } => EngineError::InvalidInput {
            field: match field {
                "credentials.apiKey" => "credentials.api_key",
                "credentials.accountSid" => "credentials.account_sid",
                "credentials.authToken" => "credentials.auth_token",
                "credentials.apiSecret" => "credentials.api_secret",
                "credentials.signatureSecret" => "credentials.signature_secret",
                "apiBaseUrl" => "api_base_url",
                "senderId" => "sender_id",
                "isActive" => "is_active",
                other => other,
            },
            reason,
        },
        other => other,
    }
}
