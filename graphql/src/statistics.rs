//! Statistics in the API: per provider, per day figures of what was sent, delivered and failed,
//! and what it cost.

use crate::{
    context::{engine, Permission, RoleGuard},
    error::{ApiError, IntoGraphql},
    scalars::Date,
};
use async_graphql::{Context, Object, SimpleObject};
use smsgate_actors::domain::{DailyStats, StatsQuery};

/// Longest range one query may ask for, in days: a few years of figures at most.
const MAX_DAYS: i64 = 3 * 366;

/// One provider's figures for one day (UTC).
#[derive(SimpleObject)]
pub struct DailyStatistics {
    pub day: Date,
    /// The provider's slug.
    pub provider: String,
    /// Messages the provider accepted that day.
    pub sent_count: i64,
    pub delivered_count: i64,
    /// Messages that ended FAILED or UNDELIVERED with this provider.
    pub failed_count: i64,
    /// What the provider charged, in eurocents.
    pub total_cost: f64,
    /// Mean time from SENT to DELIVERED, in milliseconds; null when nothing was delivered.
    pub avg_delivery_time: Option<f64>,
}

impl From<DailyStats> for DailyStatistics {
    fn from(s: DailyStats) -> Self {
        Self {
            day: Date(s.day),
            provider: s.provider,
            sent_count: s.sent_count,
            delivered_count: s.delivered_count,
            failed_count: s.failed_count,
            total_cost: s.total_cost.cents(),
            avg_delivery_time: s.avg_delivery_ms,
        }
    }
}

#[derive(Default)]
pub struct StatisticsQuery;

#[Object]
impl StatisticsQuery {
    /// Figures per provider per day from `from` to `to` (both included, UTC days), oldest day
    /// first; only days and providers with activity appear. `provider` (a slug) narrows it to
    /// one provider. Everything stored before the call is counted.
    #[graphql(guard = "RoleGuard::new(Permission::ReadStatistics)")]
    async fn statistics(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        provider: Option<String>,
    ) -> async_graphql::Result<Vec<DailyStatistics>> {
        if (to.0 - from.0).num_days() > MAX_DAYS {
            return Err(ApiError::invalid(
                "to",
                format!("at most {MAX_DAYS} days after `from`"),
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
            })
            .await
            .gql()?;
        Ok(rows.into_iter().map(DailyStatistics::from).collect())
    }
}
