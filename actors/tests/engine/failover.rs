//! Router choice and failover: default first, then priority; errors move a message on or end it.

use crate::helpers::{harness, harness_with, send, sms};
use smsgate_actors::{
    domain::{event::ErrorKind, MessageStatus},
    ports::ProviderErrorKind,
    test_support::{fast_config, wait_for_status},
    EngineConfig, SendSms,
};

#[tokio::test]
async fn the_default_provider_is_chosen_over_a_better_priority() {
    let (h, fakes) = harness(&[("primary", false, 1), ("chosen", true, 5)]).await;
    let m = send(&h.engine, "0755123456", "hi").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("chosen"));
    assert_eq!((fakes[0].call_count(), fakes[1].call_count()), (0, 1));
}

#[tokio::test]
async fn a_transient_error_fails_over_to_the_next_provider_keeping_one_message() {
    let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
    fakes[0].fail_next(ProviderErrorKind::Unavailable, 1);
    let m = send(&h.engine, "0755123456", "hi").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.id, m.id);
    assert_eq!(done.provider.as_deref(), Some("b"));
    assert_eq!(done.attempts, 2);
    let trail: Vec<_> = done
        .events
        .iter()
        .map(|e| (e.status, e.provider.clone()))
        .collect();
    assert_eq!(
        trail,
        [
            (MessageStatus::Queued, None),
            (MessageStatus::Sending, Some("a".into())),
            (MessageStatus::Retrying, Some("a".into())),
            (MessageStatus::Sending, Some("b".into())),
            (MessageStatus::Sent, Some("b".into())),
            (MessageStatus::Delivered, Some("b".into())),
        ]
    );
    assert_eq!(
        done.events[2].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::ProviderUnavailable)
    );
}

#[tokio::test]
async fn out_of_credit_and_bad_credentials_fail_over() {
    for kind in [
        ProviderErrorKind::InsufficientCredit,
        ProviderErrorKind::InvalidCredentials,
        ProviderErrorKind::Timeout,
        ProviderErrorKind::RateLimited,
    ] {
        let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
        fakes[0].fail_next(kind, 1);
        let m = send(&h.engine, "0755123456", "hi").await;
        let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
        assert_eq!(done.provider.as_deref(), Some("b"), "{kind:?}");
    }
}

#[tokio::test]
async fn a_permanent_error_about_the_message_fails_it_without_trying_others() {
    let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
    fakes[0].fail_next(ProviderErrorKind::InvalidRecipient, 1);
    let m = send(&h.engine, "0755123456", "hi").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Failed).await;
    assert_eq!(
        done.error.map(|e| e.kind),
        Some(ErrorKind::InvalidRecipient)
    );
    assert_eq!(fakes[1].call_count(), 0);
}

#[tokio::test]
async fn a_single_provider_is_retried_with_backoff_until_it_works() {
    let (h, fakes) = harness(&[("only", true, 0)]).await;
    fakes[0].fail_next(ProviderErrorKind::Unavailable, 2);
    let m = send(&h.engine, "0755123456", "hi").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 3);
    assert_eq!(fakes[0].call_count(), 3);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let config = EngineConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let (h, fakes) = harness_with(&[("only", true, 0)], config).await;
    fakes[0].fail_next(ProviderErrorKind::Timeout, 10);
    let m = send(&h.engine, "0755123456", "hi").await;
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Failed).await;
    assert_eq!(done.attempts, 3);
    assert_eq!(fakes[0].call_count(), 3);
    assert!(done.error.unwrap().message.contains("after 3 attempts"));
}

#[tokio::test]
async fn a_pinned_provider_is_never_swapped() {
    let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
    fakes[1].fail_next(ProviderErrorKind::Unavailable, 1);
    let m = h
        .engine
        .send(SendSms {
            provider: Some("b".into()),
            ..sms("0755123456", "hi")
        })
        .await
        .unwrap();
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("b"));
    assert_eq!(fakes[0].call_count(), 0);
    assert_eq!(fakes[1].call_count(), 2);
}

#[tokio::test]
async fn credit_is_lowered_by_each_send_and_an_empty_provider_is_skipped() {
    let (h, fakes) = harness(&[("a", true, 0), ("b", false, 1)]).await;
    // 2 cents of credit at 1 cent a part: two sends, then "a" is out.
    fakes[0].set_balance(Some(2.0));
    h.engine
        .reload_provider(h.engine.provider("a").await.unwrap().config.id);
    // Wait until the restarted actor has read its balance.
    let mut providers = h.engine.watch_providers();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        providers.wait_for(|all| {
            all.iter()
                .any(|p| p.config.slug == "a" && p.running && p.health.credit.is_some())
        }),
    )
    .await
    .expect("balance read in time")
    .expect("engine running");
    let mut providers = Vec::new();
    for i in 0..3 {
        let m = send(&h.engine, "0755123456", &format!("m{i}")).await;
        let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
        providers.push(done.provider.unwrap());
    }
    assert_eq!(providers, ["a", "a", "b"]);
    let a = h.engine.provider("a").await.unwrap();
    assert!(a.health.out_of_credit);
    assert_eq!(a.health.credit.map(|c| c.cents()), Some(0.0));
}
