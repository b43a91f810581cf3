//! Supervision: a crashed provider actor is restarted from the store and messages keep flowing.

use crate::helpers::{harness, send};
use ractor::call_t;
use smsgate_actors::{
    domain::MessageStatus,
    provider::ProviderMsg,
    supervisor::SupervisorMsg,
    test_support::{wait_for_status, Scripted},
};
use std::time::Duration;

#[tokio::test]
async fn a_crashed_provider_actor_is_restarted_and_messages_keep_flowing() {
    let (h, _fakes) = harness(&[("mock", true, 0)]).await;
    let before = send(&h.engine, "0755123456", "before").await;
    wait_for_status(&h.engine, &before.id, MessageStatus::Delivered).await;
    assert_eq!(h.factory.build_count(), 1);

    let actor = call_t!(
        h.engine.supervisor(),
        |reply| SupervisorMsg::ProviderActor("mock".into(), reply),
        2_000
    )
    .unwrap()
    .expect("provider actor running");
    let mut providers = h.engine.watch_providers();
    actor.cast(ProviderMsg::Crash).unwrap();

    // Down, then up again: rebuilt from its stored configuration.
    tokio::time::timeout(Duration::from_secs(5), async {
        providers
            .wait_for(|all| all.iter().any(|p| p.config.slug == "mock" && !p.running))
            .await
            .map(|_| ())
    })
    .await
    .expect("crash noticed")
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        providers
            .wait_for(|all| all.iter().any(|p| p.config.slug == "mock" && p.running))
            .await
            .map(|_| ())
    })
    .await
    .expect("restarted in time")
    .unwrap();
    assert_eq!(h.factory.build_count(), 2);

    let after = send(&h.engine, "0755123456", "after").await;
    wait_for_status(&h.engine, &after.id, MessageStatus::Delivered).await;
}

#[tokio::test]
async fn a_panicking_provider_client_fails_the_attempt_not_the_message() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    fakes[0].push(Scripted::Panic);
    let m = send(&h.engine, "0755123456", "survives").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 2);
}

#[tokio::test]
async fn a_store_outage_refuses_new_messages_as_unavailable() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    h.store.set_failing(true);
    let err = h
        .engine
        .send(crate::helpers::sms("0755123456", "not now"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, smsgate_actors::EngineError::Unavailable(_)),
        "{err:?}"
    );
    assert!(!h.engine.is_ready().await);
    h.store.set_failing(false);
    assert!(h.engine.is_ready().await);
    let ok = send(&h.engine, "0755123456", "now").await;
    wait_for_status(&h.engine, &ok.id, MessageStatus::Delivered).await;
}
