//! The circuit breaker inside the running engine: it opens, routes around, probes, and closes.

use crate::helpers::{harness, send};
use smsgate_actors::{
    domain::MessageStatus, policy::breaker::CircuitState, ports::ProviderErrorKind,
    test_support::wait_for_status,
};
use std::time::Duration;

async fn wait_for_circuit(h: &crate::helpers::Harness, slug: &str, state: CircuitState) {
    let mut providers = h.engine.watch_providers();
    tokio::time::timeout(
        Duration::from_secs(10),
        providers.wait_for(|all| {
            all.iter()
                .any(|p| p.config.slug == slug && p.health.circuit == state)
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("circuit of {slug} never became {state:?}"))
    .expect("engine running");
}

#[tokio::test]
async fn failures_open_the_circuit_then_a_good_probe_closes_it() {
    // Test providers open after 3 consecutive failures and cool down for 1 s.
    let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
    fakes[0].fail_next(ProviderErrorKind::Unavailable, 3);
    for i in 0..3 {
        let m = send(&h.engine, "0755123456", &format!("m{i}")).await;
        let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
        assert_eq!(done.provider.as_deref(), Some("b"));
    }
    wait_for_circuit(&h, "a", CircuitState::Open).await;

    // While open, "a" is skipped without being called.
    let calls_when_opened = fakes[0].call_count();
    let m = send(&h.engine, "0755123456", "while open").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("b"));
    assert_eq!(done.attempts, 1);
    assert_eq!(fakes[0].call_count(), calls_when_opened);

    // After the cool-down one probe goes to "a"; it succeeds and the circuit closes.
    wait_for_circuit(&h, "a", CircuitState::HalfOpen).await;
    let probe = send(&h.engine, "0755123456", "probe").await;
    let done = wait_for_status(&h.engine, &probe.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("a"));
    wait_for_circuit(&h, "a", CircuitState::Closed).await;
}

#[tokio::test]
async fn a_slow_provider_does_not_block_its_mailbox_or_the_router() {
    let (h, fakes) = harness(&[("slow", true, 0), ("other", false, 1)]).await;
    fakes[0].hold();
    let held = send(&h.engine, "0755123456", "held").await;
    fakes[0].wait_for_calls(1).await;
    // The provider actor still answers while its call hangs.
    let view = tokio::time::timeout(Duration::from_secs(2), h.engine.provider("slow"))
        .await
        .expect("provider view while a call hangs")
        .unwrap();
    assert_eq!(view.in_flight, 1);
    // And a message pinned elsewhere flows meanwhile.
    let m = h
        .engine
        .send(smsgate_actors::SendSms {
            provider: Some("other".into()),
            ..crate::helpers::sms("0755123456", "pinned")
        })
        .await
        .unwrap();
    wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    fakes[0].release(1);
    wait_for_status(&h.engine, &held.id, MessageStatus::Delivered).await;
}
