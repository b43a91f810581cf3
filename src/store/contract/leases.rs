//! Contract checks of the lease port and the status fence, which both backends keep: a stale
//! change is refused whole, a receipt is applied once, and a lone instance holds what it wrote.

use super::{base_time, insert_all, queued, step};
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::ports::{MessageWrite, Store, StoreError};

/// A change made from a status the message no longer has (a stale snapshot, or a receipt
/// already applied elsewhere) is refused as `LeaseLost`, naming the message, and nothing of its
/// batch is kept: the Logger commits the rest again without it.
pub async fn a_change_from_a_status_the_message_left_is_refused_and_its_batch_kept_nothing(
    store: &dyn Store,
) {
    let mut m = queued("+40755000001", base_time());
    insert_all(store, std::slice::from_ref(&m)).await;
    let stale = m.clone();
    let sending = step(&mut m, MessageStatus::Sending, None);
    store
        .commit_with_statistics(std::slice::from_ref(&sending), &[])
        .await
        .unwrap();

    // The same step again: the stored message is SENDING, not QUEUED any more.
    let fresh = queued("+40755000002", base_time());
    let result = store
        .commit_with_statistics(&[MessageWrite::Insert(fresh.clone().into()), sending], &[])
        .await;
    match result {
        Err(StoreError::LeaseLost(ids)) => assert_eq!(ids, [m.id.clone()]),
        other => panic!("a stale change must be refused as LeaseLost: {other:?}"),
    }
    assert_eq!(store.message(&fresh.id).await.unwrap(), None);
    let stored = store.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.events.len(), 2, "no event added twice: {stored:?}");
    assert_ne!(stored, stale);
}

/// Two receipts for one SENT message: the first applies, the second (made from SENT too) finds
/// it final and is refused: a final state never regresses.
pub async fn a_second_receipt_never_regresses_a_final_state(store: &dyn Store) {
    let mut m = queued("+40755000001", base_time());
    insert_all(store, std::slice::from_ref(&m)).await;
    let sending = step(&mut m, MessageStatus::Sending, None);
    let sent = step(&mut m, MessageStatus::Sent, None);
    store
        .commit_with_statistics(&[sending, sent], &[])
        .await
        .unwrap();
    let mut other_view = m.clone();
    let delivered = step(&mut m, MessageStatus::Delivered, None);
    let undelivered = step(&mut other_view, MessageStatus::Undelivered, None);
    store
        .commit_with_statistics(&[delivered], &[])
        .await
        .unwrap();
    let refused = store.commit_with_statistics(&[undelivered], &[]).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost(_))),
        "{refused:?}"
    );
    let stored = store.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    assert_eq!(
        stored.events.last().map(|e| e.status),
        Some(MessageStatus::Delivered)
    );
}

/// The instance that wrote a message holds it: at start it takes it back, renewal finds it,
/// and nobody's lease has run out for a sweep to claim.
pub async fn a_lone_instance_holds_what_it_wrote(store: &dyn Store) {
    let mut done = queued("+40755000001", base_time());
    let waiting = queued("+40755000002", base_time());
    insert_all(store, &[done.clone(), waiting.clone()]).await;
    let writes: Vec<MessageWrite> = [MessageStatus::Sending, MessageStatus::Failed]
        .into_iter()
        .map(|s| step(&mut done, s, None))
        .collect();
    store.commit_with_statistics(&writes, &[]).await.unwrap();

    let at_start = store.claim_at_start().await.unwrap();
    assert_eq!(at_start, [waiting]);
    store.renew_leases().await.unwrap();
    assert_eq!(store.claim_expired(100).await.unwrap(), []);
}
