//! The provider-rejected rule: a provider that refuses our credentials or credit alerts at its
//! first refusal, repeats per cool-down and resolves once a send or balance check succeeds.

use super::*;

#[tokio::test]
async fn refused_credentials_alert_at_once_repeat_after_the_cooldown_and_resolve_after_a_send() {
    let s = setup(
        &[("a", true, 0), ("b", false, 1)],
        None,
        quiet(AlertsConfig::default()),
    )
    .await;
    s.fakes[0].fail_next(ProviderErrorKind::InvalidCredentials, 1);
    let m = send(&s.h.engine, "0755123456", "one").await;
    wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    s.wait_for_provider("a", |p| {
        p.health.refused == Some(ProviderErrorKind::InvalidCredentials)
    })
    .await;
    let fired_now = s.h.engine.evaluate_alerts().await.unwrap();
    assert_eq!(fired_now.len(), 1, "one refusal is enough: {fired_now:?}");
    assert_eq!(
        (fired_now[0].rule, fired_now[0].subject.as_str()),
        (AlertRule::ProviderRejected, "a")
    );
    assert!(fired_now[0].message.contains("credentials"));
    s.advance(599);
    assert_eq!(s.evaluate().await, [], "within the cool-down");
    s.advance(1);
    assert_eq!(
        s.evaluate().await,
        [fired(AlertRule::ProviderRejected, "a", 1)]
    );

    // The credentials were fixed: the next message goes through "a" again.
    let m = send(&s.h.engine, "0755123456", "two").await;
    wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    s.wait_for_provider("a", |p| p.health.refused.is_none())
        .await;
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::ProviderRejected, "a", 2)]
    );
    assert_eq!(
        s.sink.0.lock().unwrap().len(),
        3,
        "the sink heard every notice"
    );
}

#[tokio::test]
async fn running_out_of_credit_alerts_until_a_balance_check_finds_credit() {
    let config = quiet(AlertsConfig {
        disabled: vec!["low_credit".into()],
        ..AlertsConfig::default()
    });
    let s = setup(&[("a", true, 0), ("b", false, 1)], Some(10_000.0), config).await;
    s.wait_for_provider("a", |p| p.health.credit.is_some())
        .await;
    s.fakes[0].fail_next(ProviderErrorKind::InsufficientCredit, 1);
    let m = send(&s.h.engine, "0755123456", "one").await;
    wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    s.wait_for_provider("a", |p| {
        p.health.refused == Some(ProviderErrorKind::InsufficientCredit)
    })
    .await;
    assert_eq!(
        s.evaluate().await,
        [fired(AlertRule::ProviderRejected, "a", 0)]
    );
    assert_eq!(s.evaluate().await, [], "told once per cool-down");

    // Topped up: the restarted provider reads its balance, which now succeeds.
    let id = s.h.engine.provider("a").await.unwrap().config.id;
    s.h.engine.reload_provider(id);
    s.wait_for_provider("a", |p| p.running && p.health.refused.is_none())
        .await;
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::ProviderRejected, "a", 1)]
    );
}
