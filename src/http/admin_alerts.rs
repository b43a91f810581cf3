//! `GET /api/admin/sms/alerts`: the alert history for operators' scripts, admins only. The
//! same filters, page sizes and cursors as GraphQL `alertHistory`, in snake_case JSON.

use crate::http::{
    auth::{require, Limited, Role},
    error::ApiError,
    AppState,
};
use axum::{
    extract::{rejection::QueryRejection, Query, State},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use smsgate_actors::{
    alerts::{Alert, AlertQuery, AlertRule, AlertState},
    EngineError,
};
use smsgate_graphql::alerts::{encode, parse_cursor, DEFAULT_PAGE, MAX_PAGE};

/// Alerts tell of providers' credit and failures and of suspected fraud: admins only.
const ALERT_READERS: &[Role] = &[Role::Admin];

#[derive(Debug, Deserialize)]
pub struct AlertParams {
    pub rule: Option<String>,
    pub state: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One notice, as `alertHistory` gives it, in snake_case.
#[derive(Debug, Serialize)]
pub struct AlertDto {
    pub id: String,
    pub notice: u32,
    pub rule: &'static str,
    pub subject: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub fired_at: chrono::DateTime<chrono::Utc>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub details: Value,
}

impl From<&Alert> for AlertDto {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id.clone(),
            notice: a.notice,
            rule: a.rule.as_str(),
            subject: a.subject.clone(),
            state: a.state.as_str(),
            severity: a.severity.as_str(),
            message: a.message.clone(),
            fired_at: a.fired_at,
            at: a.at,
            details: a.details.clone(),
        }
    }
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `GET /api/admin/sms/alerts?rule=&state=&limit=&cursor=`: notices newest first, `limit` at a
/// time (default 20, at most 100); pass `next_cursor` as `cursor` for the next page.
pub async fn alerts(
    State(state): State<AppState>,
    Limited(caller): Limited,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require(&caller, ALERT_READERS)?;
    let params = params
        .map(|Query(q)| q)
        .map_err(|rejection| EngineError::invalid("query", rejection.body_text()))?;
    let max = usize::try_from(MAX_PAGE).unwrap_or(100);
    let limit = params
        .limit
        .unwrap_or(usize::try_from(DEFAULT_PAGE).unwrap_or(20));
    if !(1..=max).contains(&limit) {
        return Err(EngineError::invalid("limit", format!("between 1 and {max}")).into());
    }
    let rule = crate::http::admin::enum_param("rule", &params.rule)?
        .map(|raw| {
            AlertRule::parse(raw).ok_or_else(|| {
                let rules: Vec<_> = AlertRule::ALL.iter().map(|r| r.as_str()).collect();
                EngineError::invalid("rule", format!("one of {}", rules.join(", ")))
            })
        })
        .transpose()?;
    let alert_state = crate::http::admin::enum_param("state", &params.state)?
        .map(|raw| {
            AlertState::parse(raw)
                .ok_or_else(|| EngineError::invalid("state", "one of firing, resolved"))
        })
        .transpose()?;
    let before = nonempty(&params.cursor)
        .map(|raw| {
            parse_cursor(raw)
                .ok_or_else(|| EngineError::invalid("cursor", "not a cursor from this API"))
        })
        .transpose()?;
    let mut found = state
        .engine
        .alert_history(AlertQuery {
            rule,
            state: alert_state,
            before,
            limit: limit + 1,
        })
        .await?;
    let has_next = found.len() > limit;
    found.truncate(limit);
    let next_cursor = has_next.then(|| found.last().map(encode)).flatten();
    let alerts: Vec<AlertDto> = found.iter().map(AlertDto::from).collect();
    Ok(Json(
        json!({ "alerts": alerts, "next_cursor": next_cursor }),
    ))
}
