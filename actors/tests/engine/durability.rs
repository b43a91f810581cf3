//! What the engine keeps when things stop: a graceful shutdown lets the call in flight finish and
//! leaves the rest QUEUED; a status change that arrives while the store refuses writes is kept
//! and written once the store is back.

use crate::helpers::{harness_with, sms};
use smsgate_actors::{
    domain::{MessageId, MessageStatus},
    ports::Store,
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
    },
    EngineError,
};
use std::time::Duration;

async fn stored_status(store: &MemoryStore, id: &MessageId) -> MessageStatus {
    store.message(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn shutdown_finishes_the_call_in_flight_and_leaves_the_rest_queued() {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let provider = factory.register("one");
    let mut config = provider_config("one", true, 0);
    config.settings["max_concurrency"] = serde_json::json!(1);
    store.insert_provider(&config).await.unwrap();
    let engine = start_engine(store.clone(), factory, fast_config()).await;

    provider.hold();
    let first = engine.send(sms("0755123456", "in flight")).await.unwrap();
    let second = engine.send(sms("0755123457", "waiting")).await.unwrap();
    let third = engine.send(sms("0755123458", "waiting too")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), provider.wait_for_calls(1))
        .await
        .unwrap();

    let stopping = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.shutdown(Duration::from_secs(10)).await })
    };
    // Once stopping, new messages are refused and nothing is stored for them. Sends that
    // got in before the shutdown task started are ordinary accepted messages.
    let mut early = Vec::new();
    let refused = loop {
        match engine.send(sms("0755123459", "too late")).await {
            Err(err) => break err,
            Ok(m) => early.push(m.id),
        }
    };
    assert!(
        matches!(refused, EngineError::Unavailable(_)),
        "{refused:?}"
    );
    // The call in flight is allowed to finish within the grace period. (A current-thread
    // runtime: the shutdown task stopped accepting and asked the router to drain in the same
    // poll, so the router drains before this answer can free a slot for another message.)
    provider.release(1);
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("shutdown ends within the grace period")
        .unwrap();

    assert_eq!(
        provider.call_count(),
        1,
        "nothing else was handed to the provider"
    );
    let first = stored_status(&store, &first.id).await;
    assert!(
        matches!(first, MessageStatus::Sent | MessageStatus::Delivered),
        "{first:?}"
    );
    for id in [&second.id, &third.id].into_iter().chain(&early) {
        assert_eq!(stored_status(&store, id).await, MessageStatus::Queued);
    }
    assert_eq!(store.message_count(), 3 + early.len());
}

#[tokio::test]
async fn a_status_change_during_a_store_outage_is_written_when_the_store_is_back() {
    let (h, fakes) = harness_with(&[("mock", true, 0)], fast_config()).await;
    let provider = &fakes[0];
    provider.hold();
    let m = h.engine.send(sms("0755123456", "x")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), provider.wait_for_calls(1))
        .await
        .unwrap();
    assert_eq!(stored_status(&h.store, &m.id).await, MessageStatus::Sending);

    // The provider accepts (and then reports delivery) while the store refuses every write.
    h.store.set_failing(true);
    provider.release(1);
    // Bounded wait until the engine tried to write the answer and the store refused it.
    tokio::time::timeout(Duration::from_secs(10), async {
        while h.store.refused_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the provider's answer reached the store");
    h.store.set_failing(false);

    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(provider.call_count(), 1, "kept, not sent again");
    let stored = h.store.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    let statuses: Vec<MessageStatus> = stored.events.iter().map(|e| e.status).collect();
    assert!(statuses.contains(&MessageStatus::Sent), "{statuses:?}");
}
