//! `smsgate stats rebuild --day`: recomputes a day's statistics from the logs (the messages and
//! their events) on the configured store, embedded or MongoDB, and says what changed.
//!
//! The store reads the logs and replaces the day's rows in one transaction, so running it next
//! to a live server neither loses nor double-counts what the server commits meanwhile.

use chrono::NaiveDate;
use smsgate_actors::domain::stats::StatsRebuild;
use smsgate_actors::domain::StatsDelta;
use smsgate_actors::ports::{Store, StoreError};
use std::fmt::Write as _;

/// Rebuilds `day` and returns the report to print.
pub async fn rebuild(
    store: &dyn Store,
    day: NaiveDate,
) -> Result<(StatsRebuild, String), StoreError> {
    let rebuild = store.rebuild_statistics(day).await?;
    let report = describe(&rebuild);
    Ok((rebuild, report))
}

type Key = (u32, String, &'static str);

fn key(row: &StatsDelta) -> Key {
    (row.hour, row.provider.clone(), row.message_type.as_str())
}

fn figures(row: Option<&StatsDelta>) -> String {
    match row {
        None => "none".to_owned(),
        Some(r) => format!(
            "sent {}, delivered {}, failed {}, cost {:.3}c, deliveries timed {} ({} ms in all)",
            r.sent,
            r.delivered,
            r.failed,
            r.cost.cents(),
            r.delivery_count,
            r.delivery_ms_sum
        ),
    }
}

/// One line for the day, then one per (hour, provider, type) row that changed.
pub fn describe(rebuild: &StatsRebuild) -> String {
    let mut keys: Vec<Key> = rebuild
        .before
        .iter()
        .chain(&rebuild.after)
        .map(key)
        .collect();
    keys.sort();
    keys.dedup();
    let find = |rows: &[StatsDelta], k: &Key| rows.iter().find(|r| key(r) == *k).cloned();
    let changed: Vec<(Key, Option<StatsDelta>, Option<StatsDelta>)> = keys
        .into_iter()
        .map(|k| {
            let before = find(&rebuild.before, &k);
            let after = find(&rebuild.after, &k);
            (k, before, after)
        })
        .filter(|(_, before, after)| before != after)
        .collect();
    let mut out = format!(
        "statistics of {} rebuilt from the logs: {} rows (before: {}), {} changed",
        rebuild.day,
        rebuild.after.len(),
        rebuild.before.len(),
        changed.len()
    );
    for ((hour, provider, message_type), before, after) in &changed {
        let _ = write!(
            out,
            "\n  {hour:02}:00 {provider} {message_type}: {} -> {}",
            figures(before.as_ref()),
            figures(after.as_ref())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::store::EmbeddedStore;
    use chrono::{Duration, Utc};
    use smsgate_actors::domain::stats::merge_rows;
    use smsgate_actors::domain::{MessageType, StatsGroupBy, StatsQuery};
    use smsgate_actors::test_support::mixed_run::mixed_statistics_run;
    use std::sync::Arc;

    /// The engine on the embedded store: failures, failover, retries and a restart, then the
    /// figures it committed as it went equal the ones rebuilt from the logs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_the_embedded_store_incremental_figures_equal_the_rebuilt_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let totals = mixed_statistics_run(store.clone()).await;
        let today = Utc::now().date_naive();
        let days = [today - Duration::days(1), today];
        let query = StatsQuery {
            by_type: true,
            group_by: StatsGroupBy::Hour,
            ..StatsQuery::days(days[0], days[1])
        };
        let incremental = merge_rows(store.statistics(&query).await.unwrap());
        let all = |f: fn(&StatsDelta) -> i64| incremental.iter().map(f).sum::<i64>();
        assert_eq!(all(|r| r.sent), totals.sent, "{incremental:#?}");
        assert_eq!(
            incremental.iter().map(|r| r.delivered).sum::<i64>(),
            totals.delivered
        );
        assert_eq!(
            incremental.iter().map(|r| r.failed).sum::<i64>(),
            totals.failed
        );
        for day in days {
            let (rebuild, report) = rebuild(store.as_ref(), day).await.unwrap();
            assert_eq!(rebuild.before, rebuild.after, "{report}");
            assert!(report.ends_with(", 0 changed"), "{report}");
        }
        assert_eq!(
            merge_rows(store.statistics(&query).await.unwrap()),
            incremental
        );

        // A row the logs do not explain is taken out, and the report names it.
        let mut stray = StatsDelta::at(Utc::now(), "primary".into(), MessageType::Marketing);
        stray.failed = 5;
        store
            .commit_with_statistics(&[], std::slice::from_ref(&stray))
            .await
            .unwrap();
        let (_, report) = rebuild(store.as_ref(), stray.day).await.unwrap();
        assert!(report.contains(", 1 changed"), "{report}");
        assert!(
            report.contains(&format!(
                "{:02}:00 primary marketing: sent 0, delivered 0, failed 5",
                stray.hour
            )),
            "{report}"
        );
        assert!(report.contains("-> none"), "{report}");
        assert_eq!(
            merge_rows(store.statistics(&query).await.unwrap()),
            incremental
        );
    }
}
