//! Alerts inside the running engine: each rule fires from real traffic through scripted
//! providers, repeats only after its cool-down and resolves. Time is a `ManualClock` moved by
//! the test; evaluation is asked for (`evaluate_alerts`) instead of waiting for the tick.

use crate::helpers::{send, sms, Harness};
use chrono::{Duration as Span, TimeZone, Utc};
use futures::StreamExt;
use smsgate_actors::{
    alerts::{Alert, AlertQuery, AlertRule, AlertState, AlertsConfig, AlertsMsg},
    domain::{MessageStatus, MessageType},
    policy::breaker::CircuitState,
    ports::{AlertSink, ManualClock, ProviderErrorKind, Store},
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
        ScriptedProvider,
    },
    AlertsSetup,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Records what a sink was told.
#[derive(Default)]
struct Recorder(Mutex<Vec<Arc<Alert>>>);

impl AlertSink for Recorder {
    fn notify(&self, alert: Arc<Alert>) {
        self.0.lock().unwrap().push(alert);
    }
}

struct Setup {
    h: Harness,
    fakes: Vec<Arc<ScriptedProvider>>,
    clock: Arc<ManualClock>,
    sink: Arc<Recorder>,
}

/// A config whose tick never comes during a test: the test evaluates when it wants.
fn quiet(config: AlertsConfig) -> AlertsConfig {
    AlertsConfig {
        tick_ms: 3_600_000,
        cooldown_s: 600,
        ..config
    }
}

async fn setup(
    providers: &[(&str, bool, i32)],
    balance: Option<f64>,
    config: AlertsConfig,
) -> Setup {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let mut fakes = Vec::new();
    for (slug, is_default, priority) in providers {
        let fake = factory.register(slug);
        fake.set_balance(balance);
        fakes.push(fake);
        store
            .insert_provider(&provider_config(slug, *is_default, *priority))
            .await
            .unwrap();
    }
    let engine = start_engine(store.clone(), factory.clone(), fast_config()).await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap(),
    ));
    let sink = Arc::new(Recorder::default());
    engine
        .start_alerts(AlertsSetup {
            config,
            clock: clock.clone(),
            log: store.clone(),
            sinks: vec![sink.clone()],
        })
        .await
        .unwrap();
    Setup {
        h: Harness {
            engine,
            store,
            factory,
        },
        fakes,
        clock,
        sink,
    }
}

impl Setup {
    async fn evaluate(&self) -> Vec<(AlertRule, String, AlertState, u32)> {
        self.h
            .engine
            .evaluate_alerts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.rule, a.subject, a.state, a.notice))
            .collect()
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(Span::seconds(seconds));
    }

    /// Waits until the Alerts actor has counted `n` changes, so the clock moves only after.
    async fn observed(&self, n: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.h.engine.alerts_observed().await.unwrap() < n {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the alerts actor never observed {n} changes"));
    }

    async fn wait_for_provider(
        &self,
        slug: &str,
        ok: impl Fn(&smsgate_actors::ProviderView) -> bool,
    ) {
        let mut providers = self.h.engine.watch_providers();
        tokio::time::timeout(
            Duration::from_secs(10),
            providers.wait_for(|all| all.iter().any(|p| p.config.slug == slug && ok(p))),
        )
        .await
        .unwrap_or_else(|_| panic!("provider {slug} never reached the expected health"))
        .unwrap();
    }
}

fn fired(rule: AlertRule, subject: &str, notice: u32) -> (AlertRule, String, AlertState, u32) {
    (rule, subject.to_owned(), AlertState::Firing, notice)
}

fn resolved(rule: AlertRule, subject: &str, notice: u32) -> (AlertRule, String, AlertState, u32) {
    (rule, subject.to_owned(), AlertState::Resolved, notice)
}

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
async fn an_otp_run_to_one_number_range_fires_and_resolves_when_it_stops() {
    let s = setup(&[("a", true, 0)], None, quiet(AlertsConfig::default())).await;
    for i in 0..10 {
        let request = smsgate_actors::SendSms {
            message_type: MessageType::Otp,
            ..sms(&format!("07551234{i:02}"), "your code is 1234")
        };
        s.h.engine.send(request).await.unwrap();
    }
    s.observed(10).await;
    assert_eq!(
        s.evaluate().await,
        [fired(AlertRule::OtpBurst, "+407551234xx", 0)]
    );
    s.advance(6 * 60);
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::OtpBurst, "+407551234xx", 1)]
    );
}

#[tokio::test]
async fn unusual_volume_fires_against_yesterdays_same_hour() {
    let config = quiet(AlertsConfig {
        volume_min: 5,
        volume_factor: 3.0,
        baseline_days: 1,
        baseline_min_days: 1,
        ..AlertsConfig::default()
    });
    let s = setup(&[("a", true, 0)], None, config).await;
    // Yesterday, one message in this hour.
    s.advance(3_600 + 1_800);
    s.h.engine
        .send(sms("0755123456", "yesterday"))
        .await
        .unwrap();
    s.observed(1).await;
    // A day later, six in the same hour: 6 > 3 × 1.
    s.advance(24 * 3_600);
    let mut sent = 0;
    for i in 0..6 {
        s.h.engine
            .send(sms("0755123456", &format!("today {i}")))
            .await
            .unwrap();
        sent += 1;
    }
    assert_eq!(sent, 6);
    tokio::time::timeout(Duration::from_secs(10), async {
        // The deliveries of the first messages are observed too; wait for the six acceptances.
        while s.h.engine.alerts_observed().await.unwrap() < 7 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let mut got = s.evaluate().await;
    got.sort();
    assert_eq!(
        got,
        [
            fired(AlertRule::UnusualVolume, "+40", 0),
            fired(AlertRule::UnusualVolume, "all", 0)
        ]
    );
    s.advance(3_601);
    got = s.evaluate().await;
    got.sort();
    assert_eq!(
        got,
        [
            resolved(AlertRule::UnusualVolume, "+40", 1),
            resolved(AlertRule::UnusualVolume, "all", 1)
        ]
    );
}

#[tokio::test]
async fn the_tick_tells_subscribers_without_being_asked() {
    let config = AlertsConfig {
        tick_ms: 20,
        low_credit_cents: 500.0,
        ..AlertsConfig::default()
    };
    let s = setup(&[("a", true, 0)], Some(100.0), config).await;
    let mut live = s.h.engine.subscribe_alerts();
    let alert = tokio::time::timeout(Duration::from_secs(10), live.next())
        .await
        .expect("told within the deadline")
        .expect("stream open");
    assert_eq!(
        (alert.rule, alert.state),
        (AlertRule::LowCredit, AlertState::Firing)
    );
    assert_eq!(alert.subject, "a");
    assert!(alert.message.contains("€1.00"), "{}", alert.message);
}

#[tokio::test]
async fn a_crashed_alerts_actor_is_restarted_and_keeps_its_open_alerts() {
    let s = setup(
        &[("a", true, 0)],
        Some(100.0),
        quiet(AlertsConfig::default()),
    )
    .await;
    s.wait_for_provider("a", |p| p.health.credit.is_some())
        .await;
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 0)]);
    // Wait until the firing notice is stored, then kill the actor.
    tokio::time::timeout(Duration::from_secs(5), async {
        while s
            .h
            .engine
            .alert_history(AlertQuery {
                limit: 1,
                ..AlertQuery::default()
            })
            .await
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let actor = alerts_actor(&s).await;
    actor.cast(AlertsMsg::Crash).unwrap();
    // The supervisor starts a new one; it must not fire the open alert again.
    let restarted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = try_alerts_actor(&s).await {
                if a.get_id() != actor.get_id() {
                    return a;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("restarted");
    assert_eq!(
        s.h.engine.alerts_observed().await.unwrap(),
        0,
        "a new actor"
    );
    drop(restarted);
    assert_eq!(s.evaluate().await, [], "still open, not fired again");
    s.advance(600);
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 1)]);
}

async fn try_alerts_actor(s: &Setup) -> Option<ractor::ActorRef<AlertsMsg>> {
    ractor::call_t!(
        s.h.engine.supervisor(),
        smsgate_actors::supervisor::SupervisorMsg::AlertsActor,
        5_000
    )
    .unwrap()
}

async fn alerts_actor(s: &Setup) -> ractor::ActorRef<AlertsMsg> {
    try_alerts_actor(s).await.expect("alerts running")
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
