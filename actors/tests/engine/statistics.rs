//! Statistics: what the Logger adds as the engine runs equals what a rebuild from the logs
//! finds, after a run with failures, failover, retries and a restart.

use chrono::{Duration, Utc};
use smsgate_actors::{
    domain::{
        stats::{merge_rows, summarize},
        StatsGroupBy, StatsQuery,
    },
    ports::Store,
    test_support::{mixed_run::mixed_statistics_run, MemoryStore},
};
use std::sync::Arc;

#[tokio::test]
async fn incremental_statistics_equal_the_ones_rebuilt_from_the_logs() {
    let store = MemoryStore::new();
    let totals = mixed_statistics_run(store.clone() as Arc<dyn Store>).await;
    // A run that crosses midnight has events on two days; check each.
    let today = Utc::now().date_naive();
    let days = [today - Duration::days(1), today];
    let query = StatsQuery {
        by_type: true,
        group_by: StatsGroupBy::Hour,
        ..StatsQuery::days(days[0], days[1])
    };
    let incremental = merge_rows(store.statistics(&query).await.unwrap());
    let figures = summarize(incremental.clone(), &StatsQuery::days(days[0], days[1]));
    let sum =
        |f: fn(&smsgate_actors::domain::DailyStats) -> i64| figures.iter().map(f).sum::<i64>();
    assert_eq!(sum(|s| s.sent_count), totals.sent, "{figures:?}");
    assert_eq!(sum(|s| s.delivered_count), totals.delivered);
    assert_eq!(sum(|s| s.failed_count), totals.failed);
    assert!(figures.iter().any(|s| s.provider == "backup"));
    assert!(figures
        .iter()
        .all(|s| s.delivered_count == 0 || s.p95_delivery_ms.is_some()));

    let mut rebuilt = Vec::new();
    for day in days {
        let rebuild = store.rebuild_statistics(day).await.unwrap();
        assert_eq!(rebuild.before, rebuild.after, "{day}: stored vs logged");
        rebuilt.extend(rebuild.after);
    }
    assert_eq!(merge_rows(rebuilt), incremental);
    assert_eq!(
        merge_rows(store.statistics(&query).await.unwrap()),
        incremental
    );
}
