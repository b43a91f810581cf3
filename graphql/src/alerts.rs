//! Alerts in the API (admins only): the `alerts` subscription (every notice as it is made) and
//! the `alertHistory` query (stored notices, newest first, a relay-style connection).

use crate::{
    context::{engine, Permission, RoleGuard},
    error::{ApiError, IntoGraphql},
    message::PageInfo,
    scalars::DateTime,
};
use async_graphql::{Context, Enum, Json, Object, SimpleObject, Subscription, ID};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use futures::{Stream, StreamExt};
use smsgate_actors::alerts::{self as domain, AlertCursor, AlertQuery};

/// `alertHistory`'s page sizes; the REST history uses the same.
pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// What an alert watches.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::alerts::AlertRule")]
pub enum AlertRule {
    /// A provider's balance is below the configured amount, or below some hours of sending.
    LowCredit,
    /// A provider's failed share of recent attempts is above the threshold.
    HighFailureRate,
    /// A provider's circuit is open, its balance checks fail, or it is not running, for too long.
    ProviderDown,
    /// The last hour's volume (overall or to one country) is far above the same hour's baseline.
    UnusualVolume,
    /// Many OTPs within minutes to numbers sharing all but their last digits (SMS pumping).
    OtpBurst,
    /// A provider refused our credentials or said we are out of credit: the admin must act.
    ProviderRejected,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::alerts::AlertState")]
pub enum AlertState {
    /// The condition holds: the first notice, or a repeat after the cool-down.
    Firing,
    /// The condition cleared: the alert's last notice.
    Resolved,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::alerts::Severity")]
pub enum AlertSeverity {
    Warning,
    Critical,
}

/// One notice about one alert. All notices of an alert share its `id`; `notice` counts them.
#[derive(SimpleObject)]
pub struct Alert {
    pub id: ID,
    /// 0 for the first firing, then each repeat; the resolved notice is the last.
    pub notice: i32,
    pub rule: AlertRule,
    /// A provider slug, a country prefix (`+40`), a number range (`+407551234xx`) or `all`.
    pub subject: String,
    pub state: AlertState,
    pub severity: AlertSeverity,
    pub message: String,
    pub fired_at: DateTime,
    pub at: DateTime,
    /// The figures behind the decision (rates, counts, thresholds).
    pub details: Json<serde_json::Value>,
}

impl From<&domain::Alert> for Alert {
    fn from(a: &domain::Alert) -> Self {
        Self {
            id: ID(a.id.clone()),
            notice: i32::try_from(a.notice).unwrap_or(i32::MAX),
            rule: a.rule.into(),
            subject: a.subject.clone(),
            state: a.state.into(),
            severity: a.severity.into(),
            message: a.message.clone(),
            fired_at: a.fired_at.into(),
            at: a.at.into(),
            details: Json(a.details.clone()),
        }
    }
}

#[derive(SimpleObject)]
pub struct AlertConnection {
    pub edges: Vec<AlertEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct AlertEdge {
    /// Pass as `after` to get the notices older than this one.
    pub cursor: String,
    pub node: Alert,
}

/// The opaque cursor of a notice in the newest-first history; REST hands out the same ones.
pub fn encode(a: &domain::Alert) -> String {
    let at = a.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    URL_SAFE_NO_PAD.encode(format!("{at}|{}|{}", a.id, a.notice))
}

/// A cursor from [`encode`]; `None` when it is not one.
pub fn parse_cursor(cursor: &str) -> Option<AlertCursor> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    let mut parts = raw.splitn(3, '|');
    let (Some(at), Some(id), Some(notice)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(AlertCursor {
        at: chrono::DateTime::parse_from_rfc3339(at)
            .ok()?
            .with_timezone(&chrono::Utc),
        id: id.to_owned(),
        notice: notice.parse().ok()?,
    })
}

fn decode(cursor: &str) -> Result<AlertCursor, ApiError> {
    parse_cursor(cursor)
        .ok_or_else(|| ApiError::invalid("after", "not a cursor this API handed out"))
}

#[derive(Default)]
pub struct AlertQueryRoot;

#[Object]
impl AlertQueryRoot {
    /// Alert notices as stored, newest first: `first` (1 to 100, default 20) after the cursor
    /// `after`, narrowed to one `rule` and/or `state`. Admins only.
    #[graphql(
        guard = "RoleGuard::new(Permission::ReadAlerts)",
        complexity = "crate::limits::page_cost(first, DEFAULT_PAGE, child_complexity)"
    )]
    async fn alert_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        rule: Option<AlertRule>,
        state: Option<AlertState>,
    ) -> async_graphql::Result<AlertConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::invalid("first", format!("1 to {MAX_PAGE}"))).gql();
        }
        let before = after.as_deref().map(decode).transpose().gql()?;
        let limit = usize::try_from(first).unwrap_or(1);
        let mut found = engine(ctx)?
            .alert_history(AlertQuery {
                rule: rule.map(Into::into),
                state: state.map(Into::into),
                before,
                limit: limit + 1,
            })
            .await
            .gql()?;
        let has_next_page = found.len() > limit;
        found.truncate(limit);
        let edges: Vec<AlertEdge> = found
            .iter()
            .map(|a| AlertEdge {
                cursor: encode(a),
                node: Alert::from(a),
            })
            .collect();
        Ok(AlertConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

#[derive(Default)]
pub struct AlertSubscription;

#[Subscription]
impl AlertSubscription {
    /// Every alert notice from now on: a firing alert, its repeats (at most once per cool-down)
    /// and its resolved notice. Admins only. It does not end by itself; a subscriber that falls
    /// more than 256 notices behind is completed, and reads what it missed with `alertHistory`.
    #[graphql(guard = "RoleGuard::new(Permission::ReadAlerts)")]
    async fn alerts(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = Alert>> {
        let stream = engine(ctx)?.subscribe_alerts();
        Ok(stream.map(|a| Alert::from(a.as_ref())))
    }
}
