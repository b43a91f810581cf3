//! The MongoDB store against the store contract, each check on a database of its own, plus what
//! only MongoDB can show: corrupt documents, idempotent indexes, concurrent counters, and errors
//! that never carry the connection string.
//!
//! The server comes from `SMSGATE_TEST_MONGODB_URI` (scripts/test starts one). Without it each
//! test says so and passes, except under CI (`CI` set), where a missing server is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::contract::{self, base_time, queued};
use futures::FutureExt;
use mongodb::IndexModel;
use smsgate_actors::domain::{MessageType, Money};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Names the test server; scripts/test sets it.
pub const TEST_URI_ENV: &str = "SMSGATE_TEST_MONGODB_URI";

/// The test server's URI; None (with a notice) when there is none and this is not CI.
pub fn test_uri(test: &str) -> Option<String> {
    match std::env::var(TEST_URI_ENV) {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{TEST_URI_ENV} is not set under CI: the MongoDB tests must run (scripts/test \
                 starts a server)"
            );
            eprintln!("skipping {test}: {TEST_URI_ENV} is not set (scripts/test starts a server)");
            None
        }
    }
}

/// A database name no other test uses.
pub(super) fn unique_database() -> String {
    format!("smsgate_test_{}", uuid::Uuid::new_v4().simple())
}

/// Runs `check` on a store over a fresh database, then drops the database, also when the check
/// panics (the panic is passed on afterwards).
async fn with_store<F, Fut>(test: &str, check: F)
where
    F: FnOnce(MongoStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(uri) = test_uri(test) else { return };
    let store = MongoStore::connect(&uri, &unique_database()).await.unwrap();
    let db = store.database().clone();
    let outcome = AssertUnwindSafe(check(store)).catch_unwind().await;
    db.drop().await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            with_store(stringify!($check), |store| async move {
                contract::$check(&store).await;
            })
            .await;
        }
    )*};
}

contract::every_check!(contract_checks);

#[tokio::test]
async fn a_document_that_does_not_parse_is_reported_as_corrupt() {
    with_store("corrupt", |store| async move {
        let m = queued("+40755000001", base_time());
        store
            .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
            .await
            .unwrap();
        let raw = store.database().collection::<Document>(MESSAGES);
        raw.update_one(
            doc! { "_id": m.id.as_str() },
            doc! { "$set": { "status": "LOST" } },
        )
        .await
        .unwrap();
        let err = store.message(&m.id).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(what) if what.contains("LOST")),
            "{err:?}"
        );
        // A field of the wrong BSON type is corrupt too, not "unavailable".
        raw.update_one(
            doc! { "_id": m.id.as_str() },
            doc! { "$set": { "status": "QUEUED", "segments": "three" } },
        )
        .await
        .unwrap();
        let page = PageRequest {
            first: 10,
            after: None,
        };
        let listed = store.messages(&Default::default(), &page).await;
        assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");
    })
    .await;
}

#[tokio::test]
async fn connecting_again_keeps_the_indexes_and_the_data() {
    with_store("indexes", |store| async move {
        let m = queued("+40755000001", base_time());
        store
            .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
            .await
            .unwrap();
        let uri = std::env::var(TEST_URI_ENV).unwrap();
        let again = MongoStore::connect(&uri, store.database().name())
            .await
            .unwrap();
        assert_eq!(again.message(&m.id).await.unwrap(), Some(m));
        let names: Vec<String> = store
            .database()
            .collection::<Document>(MESSAGES)
            .list_index_names()
            .await
            .unwrap();
        for expected in [
            "status_id",
            "provider_id",
            "message_type_id",
            "phone_number_id",
            "created_at_id",
            "provider_response_token",
            "unfinished",
            "idempotency_key_unique",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
    })
    .await;
}

/// Two stores (as two instances would have) add to the same counters at once: every count
/// lands, because the server adds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_never_lose_a_count() {
    with_store("counters", |store| async move {
        let uri = std::env::var(TEST_URI_ENV).unwrap();
        let other = MongoStore::connect(&uri, store.database().name())
            .await
            .unwrap();
        let day = base_time().date_naive();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = if i % 2 == 0 {
                    store.clone()
                } else {
                    other.clone()
                };
                tokio::spawn(async move {
                    let mut delta = StatsDelta::empty(day, "smso".into(), MessageType::Otp);
                    delta.sent = 1;
                    delta.cost = Money::from_millicents(3_500);
                    delta.record_delivery(if i < 10 { 150 } else { 9_000 });
                    store.commit_with_statistics(&[], &[delta]).await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let rows = store.statistics(&StatsQuery::days(day, day)).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].sent, 20);
        // Histogram buckets are `$inc`ed too: every delivery time is in its bucket.
        let histogram = &rows[0].delivery_histogram;
        assert_eq!(histogram.total(), 20);
        assert_eq!(histogram.quantile_ms(0.5), Some(200));
        assert_eq!(rows[0].cost, Money::from_millicents(70_000));
    })
    .await;
}

/// Needs no server: nothing listens on the port, so the store is unavailable, and neither the
/// error nor its causes show the password of the connection string.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_the_uri_stays_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let uri = format!(
        "mongodb://smsgate:hunter2-s3cret@127.0.0.1:{port}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    );
    let err = MongoStore::connect(&uri, "smsgate").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(!chain.contains("s3cret"), "the password leaked: {chain}");
}

/// The Logger commits up to about a thousand writes at once: they go in a few round trips, and
/// every event lands on its own message, in order.
#[tokio::test]
async fn a_batch_of_a_thousand_writes_applies_whole() {
    with_store("large batch", |store| async move {
        use smsgate_actors::domain::MessageStatus::{Queued, Sending, Sent};
        let mut all: Vec<Message> = (0..500)
            .map(|i| queued("+40755000001", base_time() + chrono::Duration::seconds(i)))
            .collect();
        let inserts: Vec<MessageWrite> = all
            .iter()
            .map(|m| MessageWrite::Insert(m.clone().into()))
            .collect();
        store.commit_with_statistics(&inserts, &[]).await.unwrap();
        let mut updates = Vec::new();
        for m in &mut all {
            m.provider = Some("smso".into());
            updates.push(contract::step(m, Sending, None));
        }
        for m in &mut all {
            m.provider_message_id = Some(format!("smso-{}", m.id));
            updates.push(contract::step(m, Sent, None));
        }
        let outcomes = store.commit_with_statistics(&updates, &[]).await.unwrap();
        assert_eq!(outcomes, vec![WriteOutcome::Applied; 1000]);
        for m in [&all[0], &all[250], &all[499]] {
            let read = store.message(&m.id).await.unwrap().unwrap();
            let statuses: Vec<_> = read.events.iter().map(|e| e.status).collect();
            assert_eq!(statuses, [Queued, Sending, Sent]);
            assert_eq!(&read, m);
        }
    })
    .await;
}

/// A database written before statistics had hours: its per-day unique index would refuse a
/// second hour of a day. Connecting replaces it, and its documents count as hour 0.
#[tokio::test]
async fn daily_statistics_of_an_older_database_become_hour_zero_and_hours_fit_beside_them() {
    let test = "daily_statistics_of_an_older_database_become_hour_zero";
    let Some(uri) = test_uri(test) else { return };
    let name = unique_database();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&name);
    let stats = db.collection::<mongodb::bson::Document>(STATISTICS);
    stats
        .create_index(
            mongodb::IndexModel::builder()
                .keys(mongodb::bson::doc! { "day": 1, "provider": 1, "message_type": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .name("day_provider_message_type_unique".to_owned())
                        .unique(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    stats
        .insert_one(mongodb::bson::doc! {
            "day": "2026-11-24", "provider": "smso", "message_type": "otp",
            "sent": 4_i64, "cost": 9_000_i64,
        })
        .await
        .unwrap();

    let store = MongoStore::connect(&uri, &name).await.unwrap();
    let outcome = AssertUnwindSafe(async {
        let names = stats.list_index_names().await.unwrap();
        assert!(
            !names
                .iter()
                .any(|n| n == "day_provider_message_type_unique"),
            "{names:?}"
        );
        assert!(names
            .iter()
            .any(|n| n == "day_hour_provider_message_type_unique"));
        let day = base_time().date_naive();
        let mut later = StatsDelta::empty(day, "smso".into(), MessageType::Otp);
        later.hour = 15;
        later.sent = 1;
        let mut same = StatsDelta::empty(day, "smso".into(), MessageType::Otp);
        same.sent = 2;
        store
            .commit_with_statistics(&[], &[later, same])
            .await
            .unwrap();
        let rows = store.statistics(&StatsQuery::days(day, day)).await.unwrap();
        let by_hour: Vec<(u32, i64)> = rows.iter().map(|r| (r.hour, r.sent)).collect();
        assert_eq!(by_hour, [(0, 6), (15, 1)]);
        assert_eq!(rows[0].cost, Money::from_millicents(9_000));
    })
    .catch_unwind()
    .await;
    db.drop().await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The TTL index that carries the log retention: created, changed when the retention changes,
/// and dropped when it is turned off.
#[tokio::test]
async fn the_log_retention_is_a_ttl_index_that_follows_the_setting() {
    with_store("log retention", |store| async move {
        let expiry = |store: MongoStore| async move {
            let indexes: Vec<IndexModel> = futures::TryStreamExt::try_collect(
                store
                    .database()
                    .collection::<Document>(MESSAGES)
                    .list_indexes()
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
            indexes
                .into_iter()
                .filter_map(|i| i.options)
                .find(|o| o.name.as_deref() == Some(indexes::LOG_TTL))
                .map(|o| o.expire_after.map(|d| d.as_secs()))
        };
        store.set_log_retention(Some(30)).await.unwrap();
        assert_eq!(expiry(store.clone()).await, Some(Some(30 * 86_400)));
        store.set_log_retention(Some(7)).await.unwrap();
        assert_eq!(expiry(store.clone()).await, Some(Some(7 * 86_400)));
        store.set_log_retention(None).await.unwrap();
        assert_eq!(expiry(store.clone()).await, None);
    })
    .await;
}
