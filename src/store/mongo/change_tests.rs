//! The change feed between instances on one database: another instance's new messages, status
//! changes and provider changes arrive; this instance's own writes and lease traffic do not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{test_uri, unique_database};
use super::*;
use crate::store::contract::{base_time, provider, queued, step};
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::ports::{InstanceId, LeaseHolder, Leases};
use tokio::sync::mpsc;

async fn instance(uri: &str, db: &str, name: &str) -> MongoStore {
    let store = MongoStore::connect(uri, db).await.unwrap();
    store.with_holder(LeaseHolder::new(
        InstanceId::new(name),
        Duration::from_secs(60),
    ))
}

async fn next(rx: &mut mpsc::Receiver<Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a change within 10 s")
        .expect("the feed is open")
}

/// The next change of message `id`, skipping provider changes and warm-up probes; a change of
/// a message in `never` fails the test.
async fn next_of(rx: &mut mpsc::Receiver<Change>, id: &MessageId, never: &[&MessageId]) -> Message {
    loop {
        if let Change::Message(m) = next(rx).await {
            assert!(!never.contains(&&m.id), "must not be relayed: {m:?}");
            if m.id == *id {
                return *m;
            }
        }
    }
}

/// Inserts probes through `a` until one comes through `feed`: the streams open in the
/// background, and a change made before they are open is not relayed.
async fn warm_up(a: &MongoStore, feed: &mut mpsc::Receiver<Change>) {
    for i in 0..40 {
        let probe = queued(&format!("+4075599{i:04}"), base_time());
        a.commit_with_statistics(&[MessageWrite::Insert(probe.into())], &[])
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_millis(250), async {
            while let Some(change) = feed.recv().await {
                if matches!(change, Change::Message(_)) {
                    return;
                }
            }
        })
        .await;
        if seen.is_ok() {
            return;
        }
    }
    panic!("the change feed never relayed a message");
}

#[tokio::test]
async fn another_instances_messages_and_provider_changes_arrive_and_own_writes_do_not() {
    let Some(uri) = test_uri("change feed") else {
        return;
    };
    let db = unique_database();
    let a = instance(&uri, &db, "a").await;
    let b = instance(&uri, &db, "b").await;
    let mut feed = b.follow_changes();
    let p = provider("smso");
    a.insert_provider(&p).await.unwrap();
    match next(&mut feed).await {
        Change::Provider(id) => assert_eq!(id, p.id),
        Change::Message(m) => panic!("no message yet: {m:?}"),
    }
    warm_up(&a, &mut feed).await;

    // B's own message and its lease renewals are not relayed; A's message and its status
    // change are, in order.
    let own = queued("+40755000009", base_time());
    b.commit_with_statistics(&[MessageWrite::Insert(own.clone().into())], &[])
        .await
        .unwrap();
    b.renew_leases().await.unwrap();
    let mut m = queued("+40755000001", base_time());
    a.commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
        .await
        .unwrap();
    let seen = next_of(&mut feed, &m.id, &[&own.id]).await;
    assert_eq!(seen.status, MessageStatus::Queued);
    a.renew_leases().await.unwrap();
    let sending = step(&mut m, MessageStatus::Sending, None);
    a.commit_with_statistics(&[sending], &[]).await.unwrap();
    let seen = next_of(&mut feed, &m.id, &[&own.id]).await;
    assert_eq!(seen.status, MessageStatus::Sending);

    // A provider made the default through A is named to B.
    a.set_default_provider(&p.id).await.unwrap();
    loop {
        match next(&mut feed).await {
            Change::Provider(id) if id == p.id => break,
            Change::Provider(_) => {}
            Change::Message(other) => assert_ne!(other.id, own.id, "own writes are not relayed"),
        }
    }
    a.database().drop().await.unwrap();
}
