//! Contract checks for the statistics rows: hourly counters and histograms that add up across
//! commits, and a day rebuilt from the logs that equals what the commits added.

use super::{base_time, insert_all, queued};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use smsgate_actors::domain::event::ErrorKind;
use smsgate_actors::domain::stats::{event_delta, merge_rows, StatsDelta};
use smsgate_actors::domain::{
    Message, MessageError, MessageStatus, MessageType, Money, StatsGroupBy, StatsQuery,
};
use smsgate_actors::ports::{MessageWrite, Store};

pub async fn statistics_add_up_across_commits(store: &dyn Store) {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let delta = |d: u32, hour: u32, provider: &str, t: MessageType| StatsDelta {
        hour,
        ..StatsDelta::empty(day(d), provider.into(), t)
    };
    let otp = MessageType::Otp;

    let mut sent_twice = delta(24, 9, "smso", otp);
    sent_twice.sent = 2;
    sent_twice.cost = Money::from_millicents(7_000);
    let mut delivered_once = delta(24, 9, "smso", otp);
    delivered_once.sent = 1;
    delivered_once.delivered = 1;
    delivered_once.record_delivery(1_500);
    let mut failed = delta(25, 0, "twilio", MessageType::Transactional);
    failed.failed = 1;
    // Two deltas for the same row in one call add up too.
    store
        .commit_with_statistics(&[], &[sent_twice, delivered_once, failed.clone()])
        .await
        .unwrap();

    let mut delivered_twice = delta(24, 9, "smso", otp);
    delivered_twice.delivered = 2;
    delivered_twice.record_delivery(1_000);
    delivered_twice.record_delivery(500);
    let mut later_hour = delta(24, 23, "smso", otp);
    later_hour.delivered = 1;
    later_hour.record_delivery(120_000);
    let mut marketing = delta(26, 0, "smso", MessageType::Marketing);
    marketing.sent = 5;
    store
        .commit_with_statistics(
            &[],
            &[delivered_twice, later_hour.clone(), marketing.clone()],
        )
        .await
        .unwrap();

    let mut nine = delta(24, 9, "smso", otp);
    nine.sent = 3;
    nine.delivered = 3;
    nine.cost = Money::from_millicents(7_000);
    for ms in [1_500, 1_000, 500] {
        nine.record_delivery(ms);
    }

    let query = |from: u32, to: u32, provider: Option<&str>| StatsQuery {
        provider: provider.map(str::to_owned),
        ..StatsQuery::days(day(from), day(to))
    };
    let rows = store.statistics(&query(24, 25, None)).await.unwrap();
    assert_eq!(rows, vec![nine.clone(), later_hour.clone(), failed.clone()]);
    let rows = store
        .statistics(&query(24, 26, Some("smso")))
        .await
        .unwrap();
    assert_eq!(rows, vec![nine.clone(), later_hour, marketing.clone()]);
    let rows = store
        .statistics(&StatsQuery {
            message_type: Some(MessageType::Marketing),
            ..query(20, 30, None)
        })
        .await
        .unwrap();
    assert_eq!(rows, vec![marketing]);
    let rows = store.statistics(&query(25, 25, None)).await.unwrap();
    assert_eq!(rows, vec![failed]);
    let rows = store.statistics(&query(27, 30, None)).await.unwrap();
    assert!(rows.is_empty());
    assert_eq!(nine.delivery_histogram.quantile_ms(0.95), Some(1_600));
}

/// Moves `m` to `next` at `at` and commits the step with the figures it adds, as the Logger does.
async fn step_at(
    store: &dyn Store,
    m: &mut Message,
    next: MessageStatus,
    at: DateTime<Utc>,
    error: Option<ErrorKind>,
) {
    let error = error.map(|kind| MessageError {
        kind,
        message: "the provider said no".into(),
    });
    let event = m.transition(next, at, error).unwrap().clone();
    let figures: Vec<StatsDelta> = event_delta(m, &event).into_iter().collect();
    let write = MessageWrite::Update {
        message: m.clone().into(),
        event,
    };
    store
        .commit_with_statistics(&[write], &figures)
        .await
        .unwrap();
}

/// A mixed day: deliveries, a failover after a timeout, an undelivered message, a permanent
/// failure, an expiry without a provider, and a delivery just after midnight of a message sent
/// the day before. The rebuilt day equals the rows the commits added, and a rebuild of a day
/// whose rows were tampered with puts the logged figures back.
pub async fn statistics_rebuilt_from_the_logs_equal_the_incremental_ones(store: &dyn Store) {
    use MessageStatus::*;
    let t0 = base_time();
    let day = t0.date_naive();
    let midnight =
        DateTime::<Utc>::from_naive_utc_and_offset(day.and_hms_opt(0, 0, 0).unwrap(), Utc);
    let ms = Duration::milliseconds;

    let mut delivered = queued("+40755000001", t0);
    let mut failover = queued("+40755000002", t0);
    let mut permanent = queued("+40755000003", t0);
    let mut expired = queued("+40755000004", t0);
    let mut overnight = queued("+40755000005", midnight - ms(60_000));
    overnight.message_type = MessageType::Otp;
    insert_all(
        store,
        &[
            delivered.clone(),
            failover.clone(),
            permanent.clone(),
            expired.clone(),
            overnight.clone(),
        ],
    )
    .await;

    delivered.provider = Some("smso".into());
    step_at(store, &mut delivered, Sending, t0 + ms(10), None).await;
    delivered.cost = Some(Money::from_millicents(4_500));
    step_at(store, &mut delivered, Sent, t0 + ms(310), None).await;
    step_at(store, &mut delivered, Delivered, t0 + ms(2_717), None).await;

    failover.provider = Some("smso".into());
    step_at(store, &mut failover, Sending, t0 + ms(20), None).await;
    let timeout = Some(ErrorKind::Timeout);
    step_at(store, &mut failover, Retrying, t0 + ms(5_020), timeout).await;
    failover.provider = Some("twilio".into());
    step_at(store, &mut failover, Sending, t0 + ms(5_030), None).await;
    failover.cost = Some(Money::from_millicents(7_900));
    step_at(store, &mut failover, Sent, t0 + ms(5_400), None).await;
    let gone = Some(ErrorKind::Timeout);
    step_at(store, &mut failover, Undelivered, t0 + ms(3_605_400), gone).await;

    permanent.provider = Some("twilio".into());
    step_at(store, &mut permanent, Sending, t0 + ms(30), None).await;
    let invalid = Some(ErrorKind::InvalidRecipient);
    step_at(store, &mut permanent, Failed, t0 + ms(400), invalid).await;

    step_at(store, &mut expired, Expired, t0 + ms(86_400), None).await;

    overnight.provider = Some("smso".into());
    step_at(store, &mut overnight, Sending, midnight - ms(59_000), None).await;
    overnight.cost = Some(Money::from_millicents(4_500));
    step_at(store, &mut overnight, Sent, midnight - ms(58_000), None).await;
    step_at(store, &mut overnight, Delivered, midnight + ms(1_000), None).await;

    let whole_day = StatsQuery {
        by_type: true,
        group_by: StatsGroupBy::Hour,
        ..StatsQuery::days(day, day)
    };
    let incremental = merge_rows(store.statistics(&whole_day).await.unwrap());
    assert!(
        incremental.iter().any(|r| r.hour == 11 && r.failed == 1),
        "the undelivered message counts in the hour it failed: {incremental:?}"
    );
    let rebuilt = store.rebuild_statistics(day).await.unwrap();
    assert_eq!(rebuilt.before, incremental);
    assert_eq!(rebuilt.after, incremental, "rebuilt from the logs");
    assert_eq!(
        merge_rows(store.statistics(&whole_day).await.unwrap()),
        incremental
    );

    // The day before keeps its SENT; the rebuild of one day leaves every other day alone.
    let eve = day - Duration::days(1);
    let eve_rows = store.statistics(&StatsQuery::days(eve, eve)).await.unwrap();
    assert_eq!(eve_rows.len(), 1, "{eve_rows:?}");
    assert_eq!((eve_rows[0].sent, eve_rows[0].hour), (1, 23));

    // Figures that no log explains are dropped by the rebuild; the logged ones come back.
    let mut stray = StatsDelta::at(t0, "smso".into(), MessageType::Marketing);
    stray.sent = 40;
    let mut lost = incremental[0].clone();
    lost.sent = -lost.sent;
    store
        .commit_with_statistics(&[], &[stray, lost])
        .await
        .unwrap();
    let repaired = store.rebuild_statistics(day).await.unwrap();
    assert_ne!(repaired.before, incremental);
    assert_eq!(repaired.after, incremental);
    assert_eq!(
        merge_rows(store.statistics(&whole_day).await.unwrap()),
        incremental
    );
    assert_eq!(
        store.statistics(&StatsQuery::days(eve, eve)).await.unwrap(),
        eve_rows
    );
    // Nothing logged that day: the rebuild empties it.
    let empty = day + Duration::days(3);
    let nothing = store.rebuild_statistics(empty).await.unwrap();
    assert!(nothing.before.is_empty() && nothing.after.is_empty());
}
