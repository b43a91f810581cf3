//! Restart recovery: what a previous process left unfinished is picked up, never sent twice.

use chrono::Utc;
use smsgate_actors::{
    domain::{
        event::ErrorKind, Encoding, Message, MessageEvent, MessageId, MessageStatus, MessageType,
        E164,
    },
    ports::Store,
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
    },
};

fn left_over(status: MessageStatus, provider: Option<&str>) -> Message {
    let now = Utc::now();
    let mut events = vec![MessageEvent {
        status: MessageStatus::Queued,
        at: now,
        provider: None,
        error: None,
    }];
    if status != MessageStatus::Queued {
        events.push(MessageEvent {
            status: MessageStatus::Sending,
            at: now,
            provider: provider.map(str::to_owned),
            error: None,
        });
    }
    if status == MessageStatus::Sent {
        events.push(MessageEvent {
            status,
            at: now,
            provider: provider.map(str::to_owned),
            error: None,
        });
    }
    Message {
        id: MessageId::generate(),
        to: E164::parse("0755123456").unwrap(),
        body: format!("left {status}"),
        message_type: MessageType::Transactional,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status,
        provider: provider.map(str::to_owned),
        provider_message_id: (status == MessageStatus::Sent).then(|| "old-1".to_owned()),
        encoding: Encoding::Gsm7,
        segments: 1,
        cost: None,
        attempts: u32::from(status != MessageStatus::Queued),
        error: None,
        created_at: now,
        updated_at: now,
        sent_at: (status == MessageStatus::Sent).then_some(now),
        delivered_at: None,
        expires_at: now + chrono::Duration::hours(1),
        events,
    }
}

/// A store with one scripted provider, "mock", before the engine starts.
async fn mock_only() -> (
    std::sync::Arc<MemoryStore>,
    std::sync::Arc<ScriptedFactory>,
    std::sync::Arc<smsgate_actors::test_support::ScriptedProvider>,
) {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let fake = factory.register("mock");
    store
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap();
    (store, factory, fake)
}

#[tokio::test]
async fn unfinished_messages_are_picked_up_and_a_sent_one_is_never_resent() {
    let (store, factory, fake) = mock_only().await;
    let queued = left_over(MessageStatus::Queued, None);
    let sending = left_over(MessageStatus::Sending, Some("mock"));
    let sent = left_over(MessageStatus::Sent, Some("mock"));
    for m in [&queued, &sending, &sent] {
        store.seed_message(m.clone());
    }

    let engine = start_engine(store.clone(), factory, fast_config()).await;

    let q = wait_for_status(&engine, &queued.id, MessageStatus::Delivered).await;
    assert_eq!(q.attempts, 1);
    let s = wait_for_status(&engine, &sending.id, MessageStatus::Failed).await;
    assert_eq!(s.error.map(|e| e.kind), Some(ErrorKind::Interrupted));

    // The SENT one waits for its receipt, which still finds it.
    fake.report(smsgate_actors::ports::DeliveryReport {
        provider: "mock".into(),
        provider_message_id: "old-1".into(),
        message_id: None,
        status: smsgate_actors::ports::DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    });
    wait_for_status(&engine, &sent.id, MessageStatus::Delivered).await;

    let bodies: Vec<_> = fake.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, [queued.body], "only the queued message was sent");
}

#[tokio::test]
async fn a_message_past_its_validity_expires_instead_of_going_out_late() {
    let (store, factory, fake) = mock_only().await;
    let mut stale = left_over(MessageStatus::Queued, None);
    stale.expires_at = Utc::now() - chrono::Duration::seconds(1);
    store.seed_message(stale.clone());
    let engine = start_engine(store, factory, fast_config()).await;
    let done = wait_for_status(&engine, &stale.id, MessageStatus::Expired).await;
    assert_eq!(done.error.map(|e| e.kind), Some(ErrorKind::Expired));
    assert_eq!(fake.call_count(), 0);
}

#[tokio::test]
async fn duplicate_and_late_receipts_add_no_event() {
    let (store, factory, fake) = mock_only().await;
    let engine = start_engine(store, factory, fast_config()).await;
    let m = crate::helpers::send(&engine, "0755123456", "once").await;
    let done = wait_for_status(&engine, &m.id, MessageStatus::Delivered).await;
    let receipt = smsgate_actors::ports::DeliveryReport {
        provider: "mock".into(),
        provider_message_id: done.provider_message_id.clone().unwrap(),
        message_id: None,
        status: smsgate_actors::ports::DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    };
    fake.report(receipt.clone());
    fake.report(receipt);
    // A later message proves the receipts were handled (the Router is one mailbox, in order).
    let later = crate::helpers::send(&engine, "0755123456", "later").await;
    wait_for_status(&engine, &later.id, MessageStatus::Delivered).await;
    let stored = engine.message(m.id.as_str()).await.unwrap();
    assert_eq!(stored.events.len(), 4);
}

#[tokio::test]
async fn a_receipt_for_a_sent_message_no_longer_in_memory_is_found_in_the_store() {
    let (store, factory, fake) = mock_only().await;
    let engine = start_engine(store.clone(), factory, fast_config()).await;
    // Written after start, so the Router never held it (as if it had been let go).
    let sent = left_over(MessageStatus::Sent, Some("mock"));
    store.seed_message(sent.clone());
    fake.report(smsgate_actors::ports::DeliveryReport {
        provider: "mock".into(),
        provider_message_id: "old-1".into(),
        message_id: None,
        status: smsgate_actors::ports::DeliveryStatus::Undelivered,
        at: Utc::now(),
        error: None,
    });
    let done = wait_for_status(&engine, &sent.id, MessageStatus::Undelivered).await;
    assert_eq!(done.events.len(), 4);
    assert!(done.error.is_some(), "an undelivered message says why");
}

#[tokio::test]
async fn a_receipt_that_overtakes_the_send_answer_is_kept_and_applied() {
    let (store, factory, fake) = mock_only().await;
    fake.set_auto_deliver(false);
    fake.hold();
    let engine = start_engine(store, factory, fast_config()).await;
    let m = crate::helpers::send(&engine, "0755123456", "fast network").await;
    fake.wait_for_calls(1).await;
    // The scripted provider names its first message "scripted-0"; the webhook knows only that.
    fake.report(smsgate_actors::ports::DeliveryReport {
        provider: "mock".into(),
        provider_message_id: "scripted-0".into(),
        message_id: None,
        status: smsgate_actors::ports::DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    });
    // Whether the receipt is held before or looked up after the answer, it must not be lost.
    fake.release(1);
    let done = wait_for_status(&engine, &m.id, MessageStatus::Delivered).await;
    let statuses: Vec<_> = done.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Delivered
        ]
    );
}
