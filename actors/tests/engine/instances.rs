//! Two engines on one store, as two smsgate processes on one database: leases decide which one
//! dispatches a message, a stopped instance's messages are taken over, and a receipt reaching
//! the instance that does not hold the message is applied once.

use chrono::Utc;
use smsgate_actors::{
    domain::MessageStatus,
    ports::{DeliveryReport, DeliveryStatus, Store},
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
    },
};
use std::time::Duration;

const TTL: Duration = Duration::from_millis(300);

/// Paused time: the lease periods pass only when every task is idle, so "A still holds them
/// after three lease times" is checked without a wall-clock sleep.
#[tokio::test(start_paused = true)]
async fn a_stopped_instances_messages_are_taken_over_by_the_other_and_sent_once() {
    let shared = MemoryStore::new();
    let mut one_at_a_time = provider_config("mock", true, 0);
    one_at_a_time.settings["max_concurrency"] = serde_json::json!(1);
    shared.insert_provider(&one_at_a_time).await.unwrap();
    let store_a = shared.instance("a", TTL);
    let store_b = shared.instance("b", TTL);
    // A's provider holds its one call open: the first message stays SENDING (the call may have
    // reached the network), the others wait QUEUED in A's memory.
    let factory_a = ScriptedFactory::new();
    let fake_a = factory_a.register("mock");
    fake_a.hold();
    let engine_a = start_engine(store_a.clone(), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    let fake_b = factory_b.register("mock");
    let engine_b = start_engine(store_b.clone(), factory_b, fast_config()).await;

    let mut accepted = Vec::new();
    for i in 0..3 {
        accepted.push(crate::helpers::send(&engine_a, "0755123456", &format!("via a {i}")).await);
    }
    fake_a.wait_for_calls(1).await;
    // While A renews, B never takes them, however many of its sweeps run.
    tokio::time::sleep(TTL * 3).await;
    for m in &accepted {
        assert_eq!(store_a.lease_owner(&m.id).as_deref(), Some("a"));
        let stored = shared.message(&m.id).await.unwrap().unwrap();
        assert!(!stored.status.is_final(), "{stored:?}");
    }
    assert_eq!(fake_b.call_count(), 0);

    // A stops renewing (its engine is gone); B claims them: the interrupted call is failed,
    // not resent, and the queued ones are sent once each.
    engine_a.shutdown(Duration::from_millis(50)).await;
    let interrupted = wait_for_status(&engine_b, &accepted[0].id, MessageStatus::Failed).await;
    assert_eq!(
        interrupted.error.map(|e| e.kind),
        Some(smsgate_actors::domain::event::ErrorKind::Interrupted)
    );
    for m in &accepted[1..] {
        let done = wait_for_status(&engine_b, &m.id, MessageStatus::Delivered).await;
        assert_eq!(done.attempts, 1);
        assert_eq!(store_b.lease_owner(&m.id).as_deref(), Some("b"));
    }
    let mut bodies: Vec<_> = fake_b.calls().into_iter().map(|c| c.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["via a 1", "via a 2"]);
    assert_eq!(fake_a.call_count(), 1);
    engine_b.shutdown(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_receipt_reaching_the_other_instance_is_applied_once_and_the_owner_lets_go() {
    let shared = MemoryStore::new();
    shared
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap();
    let factory_a = ScriptedFactory::new();
    let fake_a = factory_a.register("mock");
    fake_a.set_auto_deliver(false);
    let engine_a = start_engine(shared.instance("a", TTL), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    let fake_b = factory_b.register("mock");
    let engine_b = start_engine(shared.instance("b", TTL), factory_b, fast_config()).await;

    let m = crate::helpers::send(&engine_a, "0755123456", "receipt elsewhere").await;
    let sent = wait_for_status(&engine_a, &m.id, MessageStatus::Sent).await;
    let receipt = DeliveryReport {
        provider: "mock".into(),
        provider_message_id: sent.provider_message_id.clone().unwrap(),
        message_id: None,
        status: DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    };
    // The provider calls B back (a load balancer chose it): B applies it through the store.
    fake_b.report(receipt.clone());
    wait_for_status(&engine_b, &m.id, MessageStatus::Delivered).await;
    // The same receipt at A, the owner, finds the message final: refused, nothing added.
    fake_a.report(DeliveryReport {
        status: DeliveryStatus::Undelivered,
        ..receipt
    });
    // A keeps working: its next message goes out and is delivered by a receipt at A.
    let next = crate::helpers::send(&engine_a, "0755123456", "after").await;
    let next_sent = wait_for_status(&engine_a, &next.id, MessageStatus::Sent).await;
    fake_a.report(DeliveryReport {
        provider: "mock".into(),
        provider_message_id: next_sent.provider_message_id.unwrap(),
        message_id: None,
        status: DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    });
    wait_for_status(&engine_a, &next.id, MessageStatus::Delivered).await;

    let stored = shared.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    let finals: Vec<_> = stored
        .events
        .iter()
        .filter(|e| e.status.is_final())
        .map(|e| e.status)
        .collect();
    assert_eq!(
        finals,
        [MessageStatus::Delivered],
        "applied once, never regressed"
    );
    assert_eq!(fake_a.call_count(), 2);
    assert_eq!(fake_b.call_count(), 0);
    engine_a.shutdown(Duration::from_millis(50)).await;
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// What the store's change feed does on another instance: `provider_changed` restarts a
/// provider whose stored configuration differs from the running one, and leaves alone one
/// that runs as stored (the echo of an instance's own change).
#[tokio::test]
async fn a_provider_activated_on_one_instance_becomes_the_default_on_the_other() {
    let shared = MemoryStore::new();
    let first = provider_config("first", true, 0);
    let second = provider_config("second", false, 1);
    for p in [&first, &second] {
        shared.insert_provider(p).await.unwrap();
    }
    let factory_a = ScriptedFactory::new();
    factory_a.register("first");
    factory_a.register("second");
    let engine_a = start_engine(shared.instance("a", TTL), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    factory_b.register("first");
    factory_b.register("second");
    let engine_b = start_engine(shared.instance("b", TTL), factory_b.clone(), fast_config()).await;
    let builds = factory_b.build_count();

    engine_a
        .activate_provider(second.id.as_str())
        .await
        .unwrap();
    for p in [&first, &second] {
        engine_b.provider_changed(p.id.clone());
    }
    let mut providers = engine_b.watch_providers();
    tokio::time::timeout(
        Duration::from_secs(5),
        providers.wait_for(|all| {
            all.iter()
                .any(|p| p.config.slug == "second" && p.config.is_default && p.running)
                && all
                    .iter()
                    .any(|p| p.config.slug == "first" && !p.config.is_default && p.running)
        }),
    )
    .await
    .expect("B sees the new default in time")
    .unwrap();
    assert_eq!(factory_b.build_count(), builds + 2, "both restarted once");

    // Told again with nothing changed: no restart.
    for p in [&first, &second] {
        engine_b.provider_changed(p.id.clone());
    }
    let m = crate::helpers::send(&engine_b, "0755123456", "after the switch").await;
    let done = wait_for_status(&engine_b, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("second"));
    assert_eq!(
        factory_b.build_count(),
        builds + 2,
        "an unchanged provider is left running"
    );
    engine_a.shutdown(Duration::from_millis(50)).await;
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// A graceful stop releases the stopping instance's leases: the other takes its messages at its
/// next sweep (at most 2 s), not after the lease time (a minute here).
#[tokio::test]
async fn a_gracefully_stopped_instance_hands_its_messages_over_at_once() {
    let long = Duration::from_secs(60);
    let shared = MemoryStore::new();
    let mut one_at_a_time = provider_config("mock", true, 0);
    one_at_a_time.settings["max_concurrency"] = serde_json::json!(1);
    shared.insert_provider(&one_at_a_time).await.unwrap();
    let factory_a = ScriptedFactory::new();
    let fake_a = factory_a.register("mock");
    fake_a.hold();
    let engine_a = start_engine(shared.instance("a", long), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    let fake_b = factory_b.register("mock");
    let engine_b = start_engine(shared.instance("b", long), factory_b, fast_config()).await;

    let held = crate::helpers::send(&engine_a, "0755123456", "held by a").await;
    let queued = crate::helpers::send(&engine_a, "0755123456", "queued at a").await;
    fake_a.wait_for_calls(1).await;
    engine_a.shutdown(Duration::from_millis(50)).await;

    let done = wait_for_status(&engine_b, &queued.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 1);
    // The call A could not finish is ambiguous: failed, not sent again.
    wait_for_status(&engine_b, &held.id, MessageStatus::Failed).await;
    let bodies: Vec<_> = fake_b.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, ["queued at a"]);
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// A receipt can reach the other instance before the holder has stored the send's answer (a
/// load balancer, a fast network): the message is still SENDING and has no provider id in the
/// store. The receipt is looked up again until the answer is stored, then applied once, after
/// SENT, keeping the answer's cost — whether it names the provider's id or ours.
#[tokio::test]
async fn a_receipt_at_the_other_instance_before_the_send_answer_is_applied_after_sent() {
    let shared = MemoryStore::new();
    shared
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap();
    let factory_a = ScriptedFactory::new();
    let fake_a = factory_a.register("mock");
    fake_a.set_auto_deliver(false);
    fake_a.hold();
    let engine_a = start_engine(shared.instance("a", TTL), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    let _fake_b = factory_b.register("mock");
    let engine_b = start_engine(shared.instance("b", TTL), factory_b, fast_config()).await;

    for (n, by_our_id) in [(0, false), (1, true)] {
        let m = crate::helpers::send(&engine_a, "0755123456", &format!("early {n}")).await;
        wait_for_status(&engine_a, &m.id, MessageStatus::Sending).await;
        engine_b.report_delivery(DeliveryReport {
            provider: "mock".into(),
            provider_message_id: format!("scripted-{n}"),
            message_id: by_our_id.then(|| m.id.clone()),
            status: DeliveryStatus::Delivered,
            at: Utc::now(),
            error: None,
        });
        // B cannot apply it yet; the answer reaches A, which stores SENT; then B applies it.
        fake_a.release(1);
        wait_for_status(&engine_b, &m.id, MessageStatus::Delivered).await;
        let delivered = shared.message(&m.id).await.unwrap().unwrap();
        assert_eq!(
            delivered.provider_message_id.as_deref(),
            Some(&*format!("scripted-{n}"))
        );
        assert!(delivered.cost.is_some(), "the answer's cost is kept");
        let statuses: Vec<_> = delivered.events.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                MessageStatus::Queued,
                MessageStatus::Sending,
                MessageStatus::Sent,
                MessageStatus::Delivered
            ],
            "by our id: {by_our_id}"
        );
    }
    assert_eq!(fake_a.call_count(), 2);
    engine_a.shutdown(Duration::from_millis(50)).await;
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// A forged receipt at the instance that does not hold the message (so it is read from the
/// store) from a provider that did not send it changes nothing; the sender's receipt does.
#[tokio::test(start_paused = true)]
async fn a_receipt_from_another_provider_at_the_other_instance_changes_nothing() {
    let shared = MemoryStore::new();
    for (slug, is_default, priority) in [("mock", true, 0), ("other", false, 1)] {
        shared
            .insert_provider(&provider_config(slug, is_default, priority))
            .await
            .unwrap();
    }
    let factory_a = ScriptedFactory::new();
    let fake_a = factory_a.register("mock");
    factory_a.register("other");
    fake_a.set_auto_deliver(false);
    let engine_a = start_engine(shared.instance("a", TTL), factory_a, fast_config()).await;
    let factory_b = ScriptedFactory::new();
    factory_b.register("mock");
    factory_b.register("other");
    let engine_b = start_engine(shared.instance("b", TTL), factory_b, fast_config()).await;

    let m = crate::helpers::send(&engine_a, "0755123456", "forged elsewhere").await;
    let sent = wait_for_status(&engine_a, &m.id, MessageStatus::Sent).await;
    let pid = sent.provider_message_id.clone().unwrap();
    for message_id in [Some(m.id.clone()), None] {
        engine_b.report_delivery(DeliveryReport {
            provider: "other".into(),
            provider_message_id: pid.clone(),
            message_id,
            status: DeliveryStatus::Delivered,
            at: Utc::now(),
            error: None,
        });
    }
    // Paused time: it passes only once B has looked the receipts up (and up again each tick).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stored = shared.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Sent, "{stored:?}");

    engine_b.report_delivery(DeliveryReport {
        provider: "mock".into(),
        provider_message_id: pid,
        message_id: None,
        status: DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    });
    wait_for_status(&engine_b, &m.id, MessageStatus::Delivered).await;
    engine_a.shutdown(Duration::from_millis(50)).await;
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// A store that never answers a claim (as a MongoDB-wire server hanging on a query) must not stop
/// this instance's heartbeat: if it did, another instance would take the messages this one is
/// still sending. Paused time: three lease times pass with a stuck sweep, renewals go on.
#[tokio::test(start_paused = true)]
async fn a_claim_that_never_answers_does_not_stop_the_heartbeat() {
    let shared = MemoryStore::new();
    shared
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap();
    let store = shared.instance("b", TTL);
    store.stall_claims(true);
    let factory = ScriptedFactory::new();
    factory.register("mock");
    let engine = start_engine(store.clone(), factory, fast_config()).await;

    // Let the first sweeps start (and hang) before counting.
    tokio::time::sleep(TTL).await;
    let before = store.renewal_count();
    tokio::time::sleep(TTL * 3).await;
    let renewed = store.renewal_count() - before;
    // A renewal every third of the lease: about 9 in three lease times.
    assert!(renewed >= 6, "only {renewed} renewals in three lease times");
    engine.shutdown(Duration::from_millis(50)).await;
}

/// Instance "b" alone on a shared store, its provider taking one call at a time and holding
/// each open until released.
async fn b_sending_one_at_a_time() -> (
    std::sync::Arc<MemoryStore>,
    std::sync::Arc<MemoryStore>,
    std::sync::Arc<smsgate_actors::test_support::ScriptedProvider>,
    smsgate_actors::Engine,
) {
    let shared = MemoryStore::new();
    let mut one_at_a_time = provider_config("mock", true, 0);
    one_at_a_time.settings["max_concurrency"] = serde_json::json!(1);
    shared.insert_provider(&one_at_a_time).await.unwrap();
    let store_b = shared.instance("b", TTL);
    let factory_b = ScriptedFactory::new();
    let fake_b = factory_b.register("mock");
    fake_b.hold();
    let engine_b = start_engine(store_b.clone(), factory_b, fast_config()).await;
    (shared, store_b, fake_b, engine_b)
}

/// This instance's heartbeat lapsed under load and the other claimed a queued message; this
/// Router, not knowing yet, tries to send it and its SENDING is refused, but the refusal's answer
/// arrives late: meanwhile the other instance died and this one claimed the message back (a claim
/// the Router skipped, as it still knew the message). The late refusal must not strand the
/// message, held here and sent by nobody (the two-instance test under load found this).
#[tokio::test(start_paused = true)]
async fn a_refusal_answered_after_the_message_was_claimed_back_does_not_strand_it() {
    let (shared, store_b, fake_b, engine_b) = b_sending_one_at_a_time().await;
    let first = crate::helpers::send(&engine_b, "0755123456", "first").await;
    let second = crate::helpers::send(&engine_b, "0755123456", "second").await;
    fake_b.wait_for_calls(1).await;
    // "a" claimed the queued message while B's heartbeat had lapsed.
    let far = tokio::time::Instant::now() + Duration::from_secs(3_600);
    shared.hand_lease(&second.id, "a", far);
    store_b.answer_refusals_late(TTL * 5);

    // The first call answers; B dispatches the second, whose SENDING is refused (answered late).
    fake_b.release(1);
    while store_b.lease_refusals() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // "a" dies before the answer arrives, and B claims the message back.
    shared.hand_lease(&second.id, "a", tokio::time::Instant::now());
    while store_b.lease_owner(&second.id).as_deref() != Some("b") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    fake_b.release(1);
    wait_for_status(&engine_b, &first.id, MessageStatus::Delivered).await;
    let done = wait_for_status(&engine_b, &second.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 1);
    let bodies: Vec<_> = fake_b.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, ["first", "second"], "each sent once");
    engine_b.shutdown(Duration::from_millis(50)).await;
}

/// A send whose SENDING is refused (another instance holds the message) is never made, and the
/// place it took at the provider is free again: with one call at a time, the next message still
/// goes out.
#[tokio::test(start_paused = true)]
async fn a_send_refused_for_a_lost_lease_gives_its_place_at_the_provider_back() {
    let (shared, store_b, fake_b, engine_b) = b_sending_one_at_a_time().await;
    let first = crate::helpers::send(&engine_b, "0755123456", "first").await;
    let taken = crate::helpers::send(&engine_b, "0755123456", "taken by a").await;
    fake_b.wait_for_calls(1).await;
    let far = tokio::time::Instant::now() + Duration::from_secs(3_600);
    shared.hand_lease(&taken.id, "a", far);
    fake_b.release(3);
    wait_for_status(&engine_b, &first.id, MessageStatus::Delivered).await;
    while store_b.lease_refusals() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let next = crate::helpers::send(&engine_b, "0755123456", "next").await;
    wait_for_status(&engine_b, &next.id, MessageStatus::Delivered).await;
    let bodies: Vec<_> = fake_b.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, ["first", "next"], "the refused one was not sent");
    engine_b.shutdown(Duration::from_millis(50)).await;
}
