//! Fakes of the engine's ports for tests (feature `test-support`): an in-memory store with fault
//! injection, a scripted provider that records its calls, and helpers to start and watch an engine.

use crate::{
    domain::{Message, MessageId, MessageStatus, ProviderConfig, ProviderId, ProviderKind},
    engine::{Engine, EngineConfig, EngineDeps},
    ports::NoMetrics,
    updates::UpdateFilter,
};
use chrono::Utc;
use futures::StreamExt;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

mod memory_store;
pub mod mixed_run;
mod scripted;

pub use memory_store::MemoryStore;
pub use scripted::{Scripted, ScriptedFactory, ScriptedProvider};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// "Seals" credentials as `sealed:` and their JSON in hex: unreadable at a glance (a leaked
/// secret would still be spotted by a plain search) and easy to open in a test.
pub struct TestSealer;

impl TestSealer {
    /// The credentials a token made by this sealer holds.
    pub fn open(token: &str) -> Option<serde_json::Value> {
        let hex = token.strip_prefix("sealed:")?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl crate::ports::SecretSealer for TestSealer {
    fn seal(&self, credentials: &serde_json::Value) -> Result<String, crate::ports::SealError> {
        let hex: String = credentials
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("sealed:{hex}"))
    }
}

/// A provider configuration for tests.
pub fn provider_config(slug: &str, is_default: bool, priority: i32) -> ProviderConfig {
    let now = Utc::now();
    ProviderConfig {
        id: ProviderId::generate(),
        name: slug.to_uppercase(),
        slug: slug.to_owned(),
        kind: ProviderKind::Mock,
        is_active: true,
        is_default,
        priority,
        features: vec![],
        sender_id: None,
        api_base_url: None,
        credentials: None,
        api_key_hint: None,
        settings: serde_json::json!({ "breaker_cooldown_ms": 1000, "breaker_consecutive_failures": 3 }),
        created_at: now,
        updated_at: now,
        webhook_secret: None,
    }
}

/// Retries quickly so tests need not wait for real backoff.
pub fn fast_config() -> EngineConfig {
    EngineConfig {
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

pub async fn start_engine(
    store: Arc<MemoryStore>,
    factory: Arc<ScriptedFactory>,
    config: EngineConfig,
) -> Engine {
    Engine::start(EngineDeps {
        store,
        providers: factory,
        metrics: Arc::new(NoMetrics),
        sealer: Arc::new(TestSealer),
        limiter: None,
        config,
    })
    .await
    .unwrap_or_else(|e| panic!("engine did not start: {e}"))
}

/// Waits (at most 10 s) until the message reaches `status`, following its updates.
pub async fn wait_for_status(engine: &Engine, id: &MessageId, status: MessageStatus) -> Message {
    let filter = UpdateFilter {
        message_id: Some(id.clone()),
        ..UpdateFilter::default()
    };
    let mut stream = engine
        .subscribe(filter)
        .await
        .unwrap_or_else(|e| panic!("subscribe failed: {e}"));
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = stream.next().await {
            if m.status == status {
                return Some((*m).clone());
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(m)) => m,
        Ok(None) => {
            let now = engine.message(id.as_str()).await.ok();
            panic!("message ended without reaching {status}: {now:?}")
        }
        Err(_) => {
            let now = engine.message(id.as_str()).await.ok();
            panic!("timed out waiting for {status}: {now:?}")
        }
    }
}
