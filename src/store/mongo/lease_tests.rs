//! Leases with several instances on one database, which only MongoDB can show: a message is
//! claimed only once its holder stopped renewing, by exactly one claimant, and the holder that
//! lost it can no longer change it. Skips like `tests` when no server is configured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{test_uri, unique_database};
use super::*;
use crate::store::contract::{base_time, queued, step};
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::ports::{InstanceId, LeaseHolder, Leases};
use std::collections::HashSet;
use std::time::Duration;

/// Short, so a lease runs out within a test; long enough for a slow server to renew in time.
const TTL: Duration = Duration::from_millis(600);

async fn instances(uri: &str, db: &str, names: &[&str]) -> Vec<MongoStore> {
    let mut stores = Vec::new();
    for name in names {
        stores.push(instance(uri, db, name, TTL).await);
    }
    stores
}

async fn instance(uri: &str, db: &str, name: &str, ttl: Duration) -> MongoStore {
    let store = MongoStore::connect(uri, db).await.unwrap();
    store.with_holder(LeaseHolder::new(InstanceId::new(name), ttl))
}

/// Claims with `store` until something comes back or `deadline` passes.
async fn claim_within(store: &MongoStore, deadline: Duration) -> Vec<Message> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let claimed = store.claim_expired(1000).await.unwrap();
        if !claimed.is_empty() || tokio::time::Instant::now() >= until {
            return claimed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_message_is_taken_over_only_after_its_holder_stopped_renewing() {
    let Some(uri) = test_uri("lease takeover") else {
        return;
    };
    let db = unique_database();
    let stores = instances(&uri, &db, &["a", "b"]).await;
    let (a, b) = (&stores[0], &stores[1]);
    let mut m = queued("+40755000001", base_time());
    a.renew_leases().await.unwrap();
    a.commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
        .await
        .unwrap();

    // A renews for three lease times: B finds nothing to claim.
    for _ in 0..6 {
        tokio::time::sleep(TTL / 2).await;
        assert_eq!(a.renew_leases().await.unwrap(), 1);
        assert_eq!(b.claim_expired(10).await.unwrap(), []);
    }
    // A stops renewing: B claims it, once.
    let claimed = claim_within(b, TTL * 10).await;
    assert_eq!(claimed.iter().map(|c| &c.id).collect::<Vec<_>>(), [&m.id]);
    assert_eq!(b.claim_expired(10).await.unwrap(), []);
    // Asked who holds it (after a refused change): B does, A does not.
    assert_eq!(
        b.held(&m.id).await.unwrap().map(|h| h.id),
        Some(m.id.clone())
    );
    assert_eq!(a.held(&m.id).await.unwrap(), None);
    // A's change is fenced off: it lost the message.
    let sending = step(&mut m, MessageStatus::Sending, None);
    match a
        .commit_with_statistics(std::slice::from_ref(&sending), &[])
        .await
    {
        Err(StoreError::LeaseLost(ids)) => assert_eq!(ids, [m.id.clone()]),
        other => panic!("the old holder's change must be refused: {other:?}"),
    }
    // B, the holder now, makes the same change.
    b.commit_with_statistics(&[sending], &[]).await.unwrap();
    let stored = b.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Sending);
    a.database().drop().await.unwrap();
}

#[tokio::test]
async fn concurrent_claims_never_hand_one_message_to_two_instances() {
    let Some(uri) = test_uri("concurrent claims") else {
        return;
    };
    let db = unique_database();
    // The claimants' own leases outlast the test: a claim that ran out while the others were
    // still claiming would rightly be claimed again.
    let mut stores = instances(&uri, &db, &["dead"]).await;
    for name in ["b", "c", "d"] {
        stores.push(instance(&uri, &db, name, Duration::from_secs(120)).await);
    }
    let messages: Vec<Message> = (0..60)
        .map(|i| queued(&format!("+407550{i:05}"), base_time()))
        .collect();
    let writes: Vec<MessageWrite> = messages
        .iter()
        .map(|m| MessageWrite::Insert(m.clone().into()))
        .collect();
    stores[0].renew_leases().await.unwrap();
    stores[0]
        .commit_with_statistics(&writes, &[])
        .await
        .unwrap();
    tokio::time::sleep(TTL).await;

    let (b, c, d) = tokio::join!(
        stores[1].claim_expired(1000),
        stores[2].claim_expired(1000),
        stores[3].claim_expired(1000),
    );
    let mut seen = HashSet::new();
    let mut total = 0;
    for claimed in [b.unwrap(), c.unwrap(), d.unwrap()] {
        total += claimed.len();
        for m in claimed {
            assert!(seen.insert(m.id.clone()), "{} claimed twice", m.id);
        }
    }
    assert_eq!(total, messages.len(), "every expired message claimed once");
    stores[0].database().drop().await.unwrap();
}

#[tokio::test]
async fn a_receipt_written_by_an_instance_that_does_not_hold_the_message_applies_once() {
    let Some(uri) = test_uri("receipt elsewhere") else {
        return;
    };
    let db = unique_database();
    let stores = instances(&uri, &db, &["owner", "other"]).await;
    let (owner, other) = (&stores[0], &stores[1]);
    let mut m = queued("+40755000001", base_time());
    owner
        .commit_with_statistics(&[MessageWrite::Insert(m.clone().into())], &[])
        .await
        .unwrap();
    let sending = step(&mut m, MessageStatus::Sending, None);
    owner.commit_with_statistics(&[sending], &[]).await.unwrap();
    let sent = step(&mut m, MessageStatus::Sent, None);
    // Not the holder: any change but a receipt is refused.
    assert!(matches!(
        other
            .commit_with_statistics(std::slice::from_ref(&sent), &[])
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    owner.commit_with_statistics(&[sent], &[]).await.unwrap();
    // A receipt is applied; the owner's own, later, finds the message final.
    let mut owner_view = m.clone();
    let delivered = step(&mut m, MessageStatus::Delivered, None);
    other
        .commit_with_statistics(&[delivered], &[])
        .await
        .unwrap();
    let late = step(&mut owner_view, MessageStatus::Undelivered, None);
    assert!(matches!(
        owner.commit_with_statistics(&[late], &[]).await,
        Err(StoreError::LeaseLost(_))
    ));
    let stored = owner.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    assert_eq!(stored.events.len(), 4);
    owner.database().drop().await.unwrap();
}

/// The takeover seen hanging on the MongoDB-wire test server: a few messages of a holder that
/// stopped renewing, some already on their way, claimed by an instance with the default lease.
/// Every claim must answer (its own deadline, so a hang fails rather than stalls the suite).
#[tokio::test]
async fn a_dead_holders_unfinished_messages_are_claimed_without_hanging() {
    let Some(uri) = test_uri("claim without hanging") else {
        return;
    };
    let db = unique_database();
    let a = instance(&uri, &db, "a", TTL).await;
    let b = instance(&uri, &db, "b", LeaseHolder::default().ttl).await;
    let mut messages: Vec<Message> = (0..4)
        .map(|i| queued(&format!("+407551{i:05}"), base_time()))
        .collect();
    a.renew_leases().await.unwrap();
    b.renew_leases().await.unwrap();
    let inserts: Vec<MessageWrite> = messages
        .iter()
        .map(|m| MessageWrite::Insert(m.clone().into()))
        .collect();
    a.commit_with_statistics(&inserts, &[]).await.unwrap();
    let sending = step(&mut messages[0], MessageStatus::Sending, None);
    a.commit_with_statistics(&[sending], &[]).await.unwrap();
    tokio::time::sleep(TTL * 2).await;

    let claimed = tokio::time::timeout(Duration::from_secs(10), b.claim_expired(50))
        .await
        .expect("the claim must answer");
    let mut ids: Vec<_> = claimed.unwrap().into_iter().map(|m| m.id).collect();
    ids.sort();
    let mut expected: Vec<_> = messages.iter().map(|m| m.id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let again = tokio::time::timeout(Duration::from_secs(10), b.claim_expired(50))
        .await
        .expect("the claim must answer");
    assert_eq!(again.unwrap(), []);
    a.database().drop().await.unwrap();
}

/// A claim the server applied but whose answer never came back (it ran past its deadline, or the
/// connection broke) leaves the message held by the claimant: no other instance takes it, and its
/// own sweeps no longer see it as expired. The claim's token is looked up at the next sweep, and
/// the message is handed over exactly once.
#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_handed_over_at_the_next_sweep() {
    let Some(uri) = test_uri("lost claim") else {
        return;
    };
    let db = unique_database();
    let stores = instances(&uri, &db, &["a", "b"]).await;
    let (a, b) = (&stores[0], &stores[1]);
    let lost = queued("+40755000001", base_time());
    let free = queued("+40755000002", base_time());
    a.renew_leases().await.unwrap();
    b.renew_leases().await.unwrap();
    a.commit_with_statistics(
        &[
            MessageWrite::Insert(lost.clone().into()),
            MessageWrite::Insert(free.clone().into()),
        ],
        &[],
    )
    .await
    .unwrap();
    tokio::time::sleep(TTL * 2).await;
    b.renew_leases().await.unwrap();

    // What B's claim did on the server before its answer was lost.
    b.database()
        .collection::<Document>(super::MESSAGES)
        .update_one(
            doc! { "_id": lost.id.as_str() },
            doc! { "$set": { "lease_owner": "b", "claim_token": "lost-claim" } },
        )
        .await
        .unwrap();
    b.lost_claims.add("lost-claim".to_owned());
    b.lost_claims.add("never-applied".to_owned());

    let mut ids: Vec<_> = b
        .claim_expired(50)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    let mut expected = vec![lost.id.clone(), free.id.clone()];
    expected.sort();
    assert_eq!(ids, expected, "the lost claim's message and the free one");
    assert_eq!(
        b.claim_expired(50).await.unwrap(),
        [],
        "each handed over once"
    );
    a.database().drop().await.unwrap();
}
