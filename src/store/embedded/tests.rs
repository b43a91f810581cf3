//! The embedded store against the store contract, plus what only a file on disk can show:
//! durability across reopening, its settings, and corrupt rows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::contract::{self, base_time, queued, step};
use chrono::Duration;
use smsgate_actors::domain::{MessageStatus, MessageType, Money};
use tempfile::TempDir;

fn fresh() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let (_dir, store) = fresh();
            contract::$check(&store).await;
        }
    )*};
}

contract::every_check!(contract_checks);

#[tokio::test]
async fn data_survives_reopening() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("nested").join("data");
    let mut m = queued("+40755000001", base_time());
    let provider_id = {
        let store = EmbeddedStore::open(&data_dir).unwrap();
        assert!(store.path().starts_with(&data_dir));
        store
            .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
            .await
            .unwrap();
        m.provider = Some("smso".into());
        store
            .commit_with_statistics(&[step(&mut m, MessageStatus::Sending, None)], &[])
            .await
            .unwrap();
        let mut p = contract_provider();
        p.is_default = true;
        store.insert_provider(&p).await.unwrap();
        let mut delta =
            StatsDelta::empty(base_time().date_naive(), "smso".into(), MessageType::Otp);
        delta.cost = Money::from_millicents(3_500);
        store.commit_with_statistics(&[], &[delta]).await.unwrap();
        p.id
    };
    let store = EmbeddedStore::open(&data_dir).unwrap();
    assert_eq!(store.message(&m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(store.unfinished_messages().await.unwrap(), vec![m]);
    let provider = store.provider(&provider_id).await.unwrap().unwrap();
    assert!(provider.is_default);
    let day = base_time().date_naive();
    let rows = store.statistics(&StatsQuery::days(day, day)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].cost, Money::from_millicents(3_500));
}

fn contract_provider() -> ProviderConfig {
    ProviderConfig {
        id: ProviderId::generate(),
        name: "SMSO".into(),
        slug: "smso".into(),
        kind: smsgate_actors::domain::ProviderKind::Smso,
        is_active: true,
        is_default: false,
        priority: 0,
        features: vec![],
        sender_id: None,
        api_base_url: None,
        credentials: Some("encrypted".into()),
        api_key_hint: Some("****3f9a".into()),
        settings: serde_json::json!({}),
        created_at: base_time(),
        updated_at: base_time(),
        webhook_secret: Some("0123456789abcdef0123456789abcdef".into()),
    }
}

#[tokio::test]
async fn writes_are_durable_and_readers_never_wait_for_the_writer() {
    let (dir, store) = fresh();
    {
        let writer = lock(&store.inner.writer);
        let journal: String = writer
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        let synchronous: i64 = writer
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        let foreign_keys: bool = writer
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "FULL");
        assert!(foreign_keys);
    }
    // A long write transaction held open by another connection does not block a read.
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO sms_statistics VALUES ('2026-01-01', 0, 'x', 'otp', 1, 0, 0, 0, 0, 0, '[]')",
            [],
        )
        .unwrap();
    store.ping().await.unwrap();
    assert!(store
        .messages(
            &Default::default(),
            &PageRequest {
                first: 1,
                after: None
            }
        )
        .await
        .is_ok());
    other.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn a_row_that_does_not_parse_is_reported_as_corrupt() {
    let (dir, store) = fresh();
    let m = queued("+40755000001", base_time());
    store
        .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
        .await
        .unwrap();
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other
        .execute(
            "UPDATE sms_logs SET status = 'LOST' WHERE id = ?1",
            [m.id.as_str()],
        )
        .unwrap();

    let err = store.message(&m.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(what) if what.contains("LOST")),
        "{err:?}"
    );
    let listed = store
        .messages(
            &Default::default(),
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");
}

#[tokio::test]
async fn a_database_from_a_newer_smsgate_is_refused() {
    let (dir, store) = fresh();
    drop(store);
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other
        .pragma_update(None, "user_version", schema::current_version() + 1)
        .unwrap();
    drop(other);
    let err = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_and_writes_all_land() {
    let (_dir, store) = fresh();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut m = queued("+40755000001", base_time() + Duration::seconds(i));
                store
                    .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
                    .await
                    .unwrap();
                store
                    .commit_with_statistics(&[step(&mut m, MessageStatus::Sending, None)], &[])
                    .await
                    .unwrap();
                let read = store.message(&m.id).await.unwrap();
                assert_eq!(read, Some(m));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let page = store
        .messages(
            &Default::default(),
            &PageRequest {
                first: 100,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 16);
}

#[tokio::test]
async fn times_keep_their_nanoseconds() {
    let (_dir, store) = fresh();
    let at = base_time() + Duration::nanoseconds(456_789);
    let mut m = queued("+40755000001", at);
    m.provider = Some("smso".into());
    store
        .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
        .await
        .unwrap();
    assert_eq!(store.message(&m.id).await.unwrap(), Some(m));
}

#[tokio::test]
async fn daily_statistics_of_an_older_database_become_hour_zero_of_their_day() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        for step in &schema::MIGRATIONS[..3] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO sms_statistics VALUES ('2026-11-24', 'smso', 'otp', 4, 3, 1, 9000, 4500, 3)",
            [],
        )
        .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let day = base_time().date_naive();
    let rows = store.statistics(&StatsQuery::days(day, day)).await.unwrap();
    let mut expected = StatsDelta::empty(day, "smso".into(), MessageType::Otp);
    expected.sent = 4;
    expected.delivered = 3;
    expected.failed = 1;
    expected.cost = Money::from_millicents(9_000);
    expected.delivery_ms_sum = 4_500;
    expected.delivery_count = 3;
    assert_eq!(rows, vec![expected]);
    // Later deliveries of the same hour add to the migrated row, histogram included.
    let mut more = StatsDelta::empty(day, "smso".into(), MessageType::Otp);
    more.delivered = 1;
    more.record_delivery(700);
    store.commit_with_statistics(&[], &[more]).await.unwrap();
    let rows = store.statistics(&StatsQuery::days(day, day)).await.unwrap();
    assert_eq!((rows[0].delivered, rows[0].delivery_count), (4, 4));
    assert_eq!(rows[0].delivery_histogram.quantile_ms(0.95), Some(800));
}

/// Providers stored before webhook secrets existed get one each at the migration (SMSO and
/// Vonage only), 256 random bits, different for each: their old webhook URLs stop working.
#[tokio::test]
async fn providers_of_an_older_database_get_their_own_webhook_secret() {
    let dir = tempfile::tempdir().unwrap();
    let step = schema::MIGRATIONS
        .iter()
        .position(|s| s.contains("webhook_secret"))
        .unwrap();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        for step in &schema::MIGRATIONS[..step] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", step as i64)
            .unwrap();
        for (id, kind) in [("prv_a", "SMSO"), ("prv_b", "VONAGE"), ("prv_c", "TWILIO")] {
            conn.execute(
                "INSERT INTO sms_providers VALUES (?1, ?1, ?1, ?2, 1, 0, 10, '[]', NULL, NULL, \
                 NULL, NULL, '{}', '2026-11-24T10:00:00.000000000Z', '2026-11-24T10:00:00.000000000Z')",
                [id, kind],
            )
            .unwrap();
        }
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let secrets: Vec<Option<String>> = store
        .providers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.webhook_secret)
        .collect();
    let [Some(a), Some(b), None] = &secrets[..] else {
        panic!("{secrets:?}");
    };
    for secret in [a, b] {
        assert_eq!(secret.len(), 64, "{secret}");
        assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()), "{secret}");
    }
    assert_ne!(a, b);
}
