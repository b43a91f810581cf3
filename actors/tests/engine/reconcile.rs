//! Ambiguous sends settled by a look-up at the provider: found → SENT with the provider's id,
//! never sent again; not found → sent again (here: failed over); no way to look → FAILED as
//! INTERRUPTED. Both at run time and for messages found in SENDING at start-up.

use chrono::Utc;
use smsgate_actors::{
    domain::{
        event::ErrorKind, Encoding, Message, MessageEvent, MessageId, MessageStatus, MessageType,
        E164,
    },
    ports::{ProviderErrorKind, Store},
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
        ScriptedProvider,
    },
    Engine,
};
use std::sync::Arc;

/// Providers "a" (default) and "b", with a short look-up delay.
async fn two_providers(
    store: Arc<MemoryStore>,
) -> (Engine, Arc<ScriptedProvider>, Arc<ScriptedProvider>) {
    let factory = ScriptedFactory::new();
    let a = factory.register("a");
    let b = factory.register("b");
    for (slug, default, priority) in [("a", true, 0), ("b", false, 1)] {
        let mut config = provider_config(slug, default, priority);
        config.settings = serde_json::json!({ "reconcile_delay_ms": 10 });
        store.insert_provider(&config).await.unwrap();
    }
    let engine = start_engine(store, factory, fast_config()).await;
    (engine, a, b)
}

fn trail(m: &Message) -> Vec<(MessageStatus, Option<String>)> {
    m.events
        .iter()
        .map(|e| (e.status, e.provider.clone()))
        .collect()
}

#[tokio::test]
async fn an_ambiguous_send_found_at_the_provider_is_sent_once() {
    let (engine, a, b) = two_providers(MemoryStore::new()).await;
    a.set_records(&["took it"]);
    a.fail_next(ProviderErrorKind::Ambiguous, 1);
    let m = crate::helpers::send(&engine, "0755123456", "took it").await;
    let done = wait_for_status(&engine, &m.id, MessageStatus::Sent).await;
    assert_eq!(done.provider.as_deref(), Some("a"));
    assert_eq!(
        done.provider_message_id,
        Some(format!("found-{}", m.id)),
        "the id the look-up found"
    );
    assert_eq!(
        trail(&done),
        [
            (MessageStatus::Queued, None),
            (MessageStatus::Sending, Some("a".into())),
            (MessageStatus::Sent, Some("a".into())),
        ]
    );
    assert_eq!(
        (a.call_count(), b.call_count(), a.lookup_count()),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn an_ambiguous_send_unknown_to_the_provider_is_sent_again_elsewhere() {
    let (engine, a, b) = two_providers(MemoryStore::new()).await;
    a.set_records(&[]);
    a.fail_next(ProviderErrorKind::Ambiguous, 1);
    let m = crate::helpers::send(&engine, "0755123456", "lost on the way").await;
    let done = wait_for_status(&engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("b"));
    assert_eq!(
        done.events[2].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Timeout)
    );
    assert_eq!((a.call_count(), b.call_count()), (1, 1));
}

#[tokio::test]
async fn without_a_look_up_an_ambiguous_send_fails_and_is_not_resent() {
    let (engine, a, b) = two_providers(MemoryStore::new()).await;
    a.fail_next(ProviderErrorKind::Ambiguous, 1);
    let m = crate::helpers::send(&engine, "0755123456", "maybe").await;
    let done = wait_for_status(&engine, &m.id, MessageStatus::Failed).await;
    assert_eq!(done.error.map(|e| e.kind), Some(ErrorKind::Interrupted));
    assert_eq!(
        (a.call_count(), b.call_count(), a.lookup_count()),
        (1, 0, 0)
    );
}

fn caught_in_sending(body: &str) -> Message {
    let now = Utc::now();
    let event = |status| MessageEvent {
        status,
        at: now,
        provider: (status == MessageStatus::Sending).then(|| "a".to_owned()),
        error: None,
    };
    Message {
        id: MessageId::generate(),
        to: E164::parse("0755123456").unwrap(),
        body: body.to_owned(),
        message_type: MessageType::Transactional,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status: MessageStatus::Sending,
        provider: Some("a".into()),
        provider_message_id: None,
        encoding: Encoding::Gsm7,
        segments: 1,
        cost: None,
        attempts: 1,
        error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        delivered_at: None,
        expires_at: now + chrono::Duration::hours(1),
        events: vec![event(MessageStatus::Queued), event(MessageStatus::Sending)],
    }
}

#[tokio::test]
async fn messages_caught_in_sending_at_start_up_are_looked_up() {
    let store = MemoryStore::new();
    let found = caught_in_sending("went out before the crash");
    let lost = caught_in_sending("never left");
    store.seed_message(found.clone());
    store.seed_message(lost.clone());
    let factory = ScriptedFactory::new();
    let a = factory.register("a");
    a.set_records(&["went out before the crash"]);
    store
        .insert_provider(&provider_config("a", true, 0))
        .await
        .unwrap();
    let engine = start_engine(store, factory, fast_config()).await;

    let f = wait_for_status(&engine, &found.id, MessageStatus::Sent).await;
    assert_eq!(f.provider_message_id, Some(format!("found-{}", found.id)));
    let l = wait_for_status(&engine, &lost.id, MessageStatus::Delivered).await;
    assert_eq!(l.attempts, 2);
    let bodies: Vec<_> = a.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(
        bodies,
        ["never left"],
        "only the unknown one was sent again"
    );
}
