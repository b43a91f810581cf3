//! A mixed run of the engine over any `Store`, for the check that the statistics the Logger adds
//! as it goes equal the ones rebuilt from the logs afterwards.
//!
//! Deliveries (OTP and transactional), an undelivered message, a permanent failure, a failover
//! after a timeout, a retry on the same (pinned) provider, and a restart of the engine while a
//! message waits for its receipt; the receipt reaches the new engine.

use super::{fast_config, provider_config, wait_for_status, Scripted, ScriptedFactory};
use crate::{
    domain::{Message, MessageStatus, MessageType},
    engine::{Engine, EngineDeps, SendSms},
    ports::{DeliveryReport, DeliveryStatus, NoMetrics, ProviderErrorKind, Store},
};
use chrono::Utc;
use std::{sync::Arc, time::Duration};

/// What the run did, to check the figures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedRunTotals {
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
}

async fn start(store: Arc<dyn Store>, factory: Arc<ScriptedFactory>) -> Engine {
    Engine::start(EngineDeps {
        store,
        providers: factory,
        metrics: Arc::new(NoMetrics),
        sealer: Arc::new(super::TestSealer),
        limiter: None,
        config: fast_config(),
    })
    .await
    .unwrap_or_else(|e| panic!("engine did not start: {e}"))
}

async fn send(
    engine: &Engine,
    body: &str,
    message_type: MessageType,
    pin: Option<&str>,
) -> Message {
    engine
        .send(SendSms {
            to: "+40755123456".into(),
            body: body.into(),
            message_type,
            provider: pin.map(str::to_owned),
            ..SendSms::default()
        })
        .await
        .unwrap_or_else(|e| panic!("send refused: {e}"))
}

fn receipt(m: &Message, status: DeliveryStatus) -> DeliveryReport {
    DeliveryReport {
        provider: String::new(),
        provider_message_id: m.provider_message_id.clone().unwrap_or_default(),
        message_id: Some(m.id.clone()),
        status,
        at: Utc::now(),
        error: None,
    }
}

/// Runs the mix on `store` (which must hold no providers yet) and stops the engine; returns
/// what a reader of the logs would count.
pub async fn mixed_statistics_run(store: Arc<dyn Store>) -> MixedRunTotals {
    use MessageStatus::*;
    let factory = ScriptedFactory::new();
    let primary = factory.register("primary");
    let backup = factory.register("backup");
    for config in [
        provider_config("primary", true, 0),
        provider_config("backup", false, 10),
    ] {
        store
            .insert_provider(&config)
            .await
            .unwrap_or_else(|e| panic!("insert provider: {e}"));
    }
    let engine = start(store.clone(), factory.clone()).await;

    for i in 0..3 {
        let m = send(&engine, &format!("code {i}"), MessageType::Otp, None).await;
        wait_for_status(&engine, &m.id, Delivered).await;
    }
    primary.push(Scripted::Fail(ProviderErrorKind::InvalidRecipient));
    let refused = send(&engine, "refused", MessageType::Transactional, None).await;
    wait_for_status(&engine, &refused.id, Failed).await;

    primary.push(Scripted::Fail(ProviderErrorKind::Timeout));
    let moved = send(&engine, "moved", MessageType::Transactional, None).await;
    let moved = wait_for_status(&engine, &moved.id, Delivered).await;
    assert_eq!(moved.provider.as_deref(), Some("backup"), "failed over");

    backup.push(Scripted::Fail(ProviderErrorKind::Timeout));
    let retried = send(&engine, "retried", MessageType::Marketing, Some("backup")).await;
    let retried = wait_for_status(&engine, &retried.id, Delivered).await;
    assert_eq!(retried.attempts, 2, "retried on its pinned provider");

    primary.set_auto_deliver(false);
    let lost = send(&engine, "lost", MessageType::Transactional, None).await;
    let lost = wait_for_status(&engine, &lost.id, Sent).await;
    primary.report(receipt(&lost, DeliveryStatus::Undelivered));
    wait_for_status(&engine, &lost.id, Undelivered).await;

    // A restart while a message waits for its receipt: the new engine takes the receipt.
    let waiting = send(&engine, "waiting", MessageType::Transactional, None).await;
    let waiting = wait_for_status(&engine, &waiting.id, Sent).await;
    engine.shutdown(Duration::from_secs(5)).await;
    let engine = start(store.clone(), factory.clone()).await;
    primary.report(receipt(&waiting, DeliveryStatus::Delivered));
    wait_for_status(&engine, &waiting.id, Delivered).await;

    primary.set_auto_deliver(true);
    let after = send(&engine, "after the restart", MessageType::Otp, None).await;
    wait_for_status(&engine, &after.id, Delivered).await;
    engine.shutdown(Duration::from_secs(5)).await;

    MixedRunTotals {
        sent: 8,
        delivered: 7,
        failed: 2,
    }
}
