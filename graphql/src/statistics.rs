//! Statistics in the API: per provider figures per day or per hour (optionally per message type)
//! of what was sent, delivered and failed, what it cost, and how long delivery took.

use crate::{
    context::{engine, Permission, RoleGuard},
    error::{ApiError, IntoGraphql},
    message::MessageType,
    scalars::{Date, DateTime},
};
use async_graphql::{Context, Enum, Object, SimpleObject};
use smsgate_actors::domain::{DailyStats, StatsQuery};

/// Longest range one query may ask for, in days: a few years of figures at most.
const MAX_DAYS: i64 = 3 * 366;
/// Longest range grouped by hour, in days: a quarter's hours at most.
pub const MAX_HOUR_DAYS: i64 = 92;

/// How figures are bucketed in time (UTC).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "smsgate_actors::domain::StatsGroupBy")]
pub enum StatisticsGroupBy {
    #[default]
    Day,
    Hour,
}

/// One provider's figures for one day or hour (UTC).
#[derive(SimpleObject)]
pub struct DailyStatistics {
    /// The bucket's day (for an hour: the day it is in).
    pub day: Date,
    /// The start of the hour, when grouped by HOUR; null otherwise.
    pub hour: Option<DateTime>,
    /// The provider's slug.
    pub provider: String,
    /// The message type, when grouped by type or filtered to one; null when all types are added
    /// up.
    pub message_type: Option<MessageType>,
    /// Messages the provider accepted in the bucket.
    pub sent_count: i64,
    pub delivered_count: i64,
    /// Messages that ended FAILED, UNDELIVERED or EXPIRED with this provider.
    pub failed_count: i64,
    /// What the provider charged, in eurocents.
    pub total_cost: f64,
    /// Mean time from SENT to DELIVERED, in milliseconds; null when nothing was delivered.
    pub avg_delivery_time: Option<f64>,
    /// 95th percentile of the time from SENT to DELIVERED, in milliseconds, at the resolution of
    /// the stored histogram: buckets grow by √2 from 100 ms, and the answer is the upper bound
    /// of the bucket the p95 falls in (never below the true value, at most 41 % above it).
    pub p95_delivery_time: Option<f64>,
}

impl From<DailyStats> for DailyStatistics {
    fn from(s: DailyStats) -> Self {
        Self {
            day: Date(s.day),
            hour: s.hour.map(DateTime),
            provider: s.provider,
            message_type: s.message_type.map(MessageType::from),
            sent_count: s.sent_count,
            delivered_count: s.delivered_count,
            failed_count: s.failed_count,
            total_cost: s.total_cost.cents(),
            avg_delivery_time: s.avg_delivery_ms,
            p95_delivery_time: s.p95_delivery_ms.map(|ms| ms as f64),
        }
    }
}

#[derive(Default)]
pub struct StatisticsQuery;

#[Object]
impl StatisticsQuery {
    /// Figures per provider per day (or per hour with `groupBy: HOUR`) from `from` to `to` (both
    /// included, UTC days), oldest first; only buckets and providers with activity appear.
    /// `provider` (a slug) and `type` narrow it; `byType: true` gives one figure per message
    /// type. `groupBy` is DAY and `byType` false when absent.
    /// Everything stored before the call is counted.
    #[graphql(guard = "RoleGuard::new(Permission::ReadStatistics)")]
    #[allow(clippy::too_many_arguments)]
    async fn statistics(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        provider: Option<String>,
        #[graphql(name = "type")] message_type: Option<MessageType>,
        group_by: Option<StatisticsGroupBy>,
        by_type: Option<bool>,
    ) -> async_graphql::Result<Vec<DailyStatistics>> {
        let (group_by, by_type) = (group_by.unwrap_or_default(), by_type.unwrap_or(false));
        let days = (to.0 - from.0).num_days();
        if days > MAX_DAYS {
            return Err(ApiError::invalid(
                "to",
                format!("at most {MAX_DAYS} days after `from`"),
            ))
            .gql();
        }
        if group_by == StatisticsGroupBy::Hour && days > MAX_HOUR_DAYS {
            return Err(ApiError::invalid(
                "to",
                format!("at most {MAX_HOUR_DAYS} days after `from` when grouped by HOUR"),
            ))
            .gql();
        }
        let rows = engine(ctx)?
            .statistics(StatsQuery {
                from: from.0,
                to: to.0,
                provider: provider
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty()),
                message_type: message_type.map(Into::into),
                group_by: group_by.into(),
                by_type,
            })
            .await
            .gql()?;
        Ok(rows.into_iter().map(DailyStatistics::from).collect())
    }
}
