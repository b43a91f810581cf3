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
pub struct Recorder(pub Mutex<Vec<Arc<Alert>>>);

impl AlertSink for Recorder {
    fn notify(&self, alert: Arc<Alert>) {
        self.0.lock().unwrap().push(alert);
    }
}

pub struct Setup {
    pub h: Harness,
    pub fakes: Vec<Arc<ScriptedProvider>>,
    pub clock: Arc<ManualClock>,
    pub sink: Arc<Recorder>,
}

/// A config whose tick never comes during a test: the test evaluates when it wants.
pub fn quiet(config: AlertsConfig) -> AlertsConfig {
    AlertsConfig {
        tick_ms: 3_600_000,
        cooldown_s: 600,
        ..config
    }
}

pub async fn setup(
    providers: &[(&str, bool, i32)],
    balance: Option<f64>,
    config: AlertsConfig,
) -> Setup {
    setup_on(MemoryStore::new(), providers, balance, config).await
}

/// As `setup`, on a store that may already hold messages.
pub async fn setup_on(
    store: Arc<MemoryStore>,
    providers: &[(&str, bool, i32)],
    balance: Option<f64>,
    config: AlertsConfig,
) -> Setup {
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
    pub async fn evaluate(&self) -> Vec<(AlertRule, String, AlertState, u32)> {
        self.h
            .engine
            .evaluate_alerts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.rule, a.subject, a.state, a.notice))
            .collect()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Span::seconds(seconds));
    }

    /// Waits until the Alerts actor has counted `n` changes, so the clock moves only after.
    pub async fn observed(&self, n: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.h.engine.alerts_observed().await.unwrap() < n {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the alerts actor never observed {n} changes"));
    }

    pub async fn wait_for_provider(
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

pub fn fired(rule: AlertRule, subject: &str, notice: u32) -> (AlertRule, String, AlertState, u32) {
    (rule, subject.to_owned(), AlertState::Firing, notice)
}

pub fn resolved(
    rule: AlertRule,
    subject: &str,
    notice: u32,
) -> (AlertRule, String, AlertState, u32) {
    (rule, subject.to_owned(), AlertState::Resolved, notice)
}

mod providers;
mod rejected;
mod usage;
