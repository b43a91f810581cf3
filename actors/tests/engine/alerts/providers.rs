//! The rules about providers: down, low credit, failing.

use super::*;

#[tokio::test]
async fn provider_down_fires_after_its_threshold_repeats_after_the_cooldown_and_resolves() {
    let s = setup(
        &[("a", true, 0), ("b", false, 1)],
        None,
        quiet(AlertsConfig::default()),
    )
    .await;
    let mut live = s.h.engine.subscribe_alerts();
    // Three failures open the circuit of "a" (test providers); the messages go out through "b".
    s.fakes[0].fail_next(ProviderErrorKind::Unavailable, 3);
    for i in 0..3 {
        let m = send(&s.h.engine, "0755123456", &format!("m{i}")).await;
        wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    }
    s.wait_for_provider("a", |p| p.health.circuit != CircuitState::Closed)
        .await;
    assert_eq!(s.evaluate().await, [], "down for less than 30 s");
    s.advance(31);
    assert_eq!(s.evaluate().await, [fired(AlertRule::ProviderDown, "a", 0)]);
    s.advance(300);
    assert_eq!(s.evaluate().await, [], "within the 10 min cool-down");
    s.advance(300);
    assert_eq!(s.evaluate().await, [fired(AlertRule::ProviderDown, "a", 1)]);

    // After its breaker cool-down a probe goes to "a", succeeds, and the circuit closes.
    s.wait_for_provider("a", |p| p.health.circuit == CircuitState::HalfOpen)
        .await;
    let probe = send(&s.h.engine, "0755123456", "probe").await;
    wait_for_status(&s.h.engine, &probe.id, MessageStatus::Delivered).await;
    s.wait_for_provider("a", |p| p.health.circuit == CircuitState::Closed)
        .await;
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::ProviderDown, "a", 2)]
    );
    s.advance(3_600);
    assert_eq!(s.evaluate().await, [], "resolved once");

    // Every sink was told the same three notices of one alert, and the history keeps them.
    let mut streamed = Vec::new();
    for _ in 0..3 {
        let a = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .unwrap()
            .unwrap();
        streamed.push((a.id.clone(), a.notice, a.state));
    }
    let told: Vec<_> = s
        .sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.id.clone(), a.notice, a.state))
        .collect();
    assert_eq!(streamed, told);
    assert!(told.iter().all(|(id, _, _)| *id == told[0].0));
    let history = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let h =
                s.h.engine
                    .alert_history(AlertQuery {
                        limit: 10,
                        ..AlertQuery::default()
                    })
                    .await
                    .unwrap();
            if h.len() == 3 {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("three notices stored");
    let notices: Vec<_> = history.iter().map(|a| (a.notice, a.state)).collect();
    assert_eq!(
        notices,
        [
            (2, AlertState::Resolved),
            (1, AlertState::Firing),
            (0, AlertState::Firing)
        ],
        "newest first"
    );
    let firing_only =
        s.h.engine
            .alert_history(AlertQuery {
                state: Some(AlertState::Resolved),
                limit: 10,
                ..AlertQuery::default()
            })
            .await
            .unwrap();
    assert_eq!(firing_only.len(), 1);
}

#[tokio::test]
async fn low_credit_fires_as_sending_spends_it_and_resolves_after_a_top_up() {
    let config = quiet(AlertsConfig {
        low_credit_cents: 995.0,
        low_credit_hours: 0.0,
        ..AlertsConfig::default()
    });
    let s = setup(&[("a", true, 0)], Some(1_000.0), config).await;
    s.wait_for_provider("a", |p| p.health.credit.is_some())
        .await;
    assert_eq!(s.evaluate().await, []);
    // Each message costs 1 cent: six leave 994 cents.
    for i in 0..6 {
        let m = send(&s.h.engine, "0755123456", &format!("m{i}")).await;
        wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    }
    s.wait_for_provider("a", |p| p.health.credit.is_some_and(|c| c.cents() < 995.0))
        .await;
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 0)]);
    s.advance(599);
    assert_eq!(s.evaluate().await, []);
    s.advance(1);
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 1)]);

    // Topped up: the restarted provider reads its balance again.
    s.fakes[0].set_balance(Some(100_000.0));
    let id = s.h.engine.provider("a").await.unwrap().config.id;
    s.h.engine.reload_provider(id);
    s.wait_for_provider("a", |p| {
        p.health.credit.is_some_and(|c| c.cents() >= 100_000.0)
    })
    .await;
    assert_eq!(s.evaluate().await, [resolved(AlertRule::LowCredit, "a", 2)]);
}

#[tokio::test]
async fn high_failure_rate_fires_per_provider_and_resolves_when_the_window_moves_on() {
    let config = quiet(AlertsConfig {
        failure_min_attempts: 3,
        failure_rate: 0.5,
        disabled: vec!["provider_down".into()],
        ..AlertsConfig::default()
    });
    let s = setup(&[("a", true, 0), ("b", false, 1)], None, config).await;
    s.fakes[0].fail_next(ProviderErrorKind::Timeout, 1);
    let m = send(&s.h.engine, "0755123456", "one").await;
    wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    s.observed(4).await;
    assert_eq!(s.evaluate().await, [], "1 failure of 1 attempt is no trend");
    s.fakes[0].fail_next(ProviderErrorKind::Timeout, 2);
    for i in 0..2 {
        let m = send(&s.h.engine, "0755123456", &format!("m{i}")).await;
        wait_for_status(&s.h.engine, &m.id, MessageStatus::Delivered).await;
    }
    s.observed(12).await;
    assert_eq!(
        s.evaluate().await,
        [fired(AlertRule::HighFailureRate, "a", 0)],
        "b delivered everything"
    );
    s.advance(16 * 60);
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::HighFailureRate, "a", 1)]
    );
}

#[tokio::test]
async fn failing_balance_checks_count_as_down_until_one_succeeds() {
    let s = setup(&[("a", true, 0)], None, quiet(AlertsConfig::default())).await;
    let id = s.h.engine.provider("a").await.unwrap().config.id;
    // The restarted actor checks its balance at once; the check fails.
    s.fakes[0].set_balance_failing(true);
    s.h.engine.reload_provider(id.clone());
    s.wait_for_provider("a", |p| p.health.balance_check_failing)
        .await;
    assert_eq!(s.evaluate().await, []);
    s.advance(31);
    let fired = s.h.engine.evaluate_alerts().await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].rule, fired[0].subject.as_str()),
        (AlertRule::ProviderDown, "a")
    );
    assert!(
        fired[0].message.contains("balance checks failing"),
        "{}",
        fired[0].message
    );

    s.fakes[0].set_balance_failing(false);
    s.h.engine.reload_provider(id);
    s.wait_for_provider("a", |p| p.running && !p.health.balance_check_failing)
        .await;
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::ProviderDown, "a", 1)]
    );
}
