//! Shared set-up: a store with providers, an engine on it, and a send helper.

use smsgate_actors::{
    domain::{Message, MessageType},
    ports::Store,
    test_support::{
        fast_config, provider_config, start_engine, MemoryStore, ScriptedFactory, ScriptedProvider,
    },
    Engine, EngineConfig, SendSms,
};
use std::sync::Arc;

pub struct Harness {
    pub engine: Engine,
    pub store: Arc<MemoryStore>,
    pub factory: Arc<ScriptedFactory>,
}

/// `providers` as (slug, is_default, priority).
pub async fn harness(providers: &[(&str, bool, i32)]) -> (Harness, Vec<Arc<ScriptedProvider>>) {
    harness_with(providers, fast_config()).await
}

pub async fn harness_with(
    providers: &[(&str, bool, i32)],
    config: EngineConfig,
) -> (Harness, Vec<Arc<ScriptedProvider>>) {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let mut fakes = Vec::new();
    for (slug, is_default, priority) in providers {
        fakes.push(factory.register(slug));
        store
            .insert_provider(&provider_config(slug, *is_default, *priority))
            .await
            .expect("insert provider");
    }
    let engine = start_engine(store.clone(), factory.clone(), config).await;
    (
        Harness {
            engine,
            store,
            factory,
        },
        fakes,
    )
}

pub fn sms(to: &str, body: &str) -> SendSms {
    SendSms {
        to: to.into(),
        body: body.into(),
        message_type: MessageType::Transactional,
        ..SendSms::default()
    }
}

pub async fn send(engine: &Engine, to: &str, body: &str) -> Message {
    engine.send(sms(to, body)).await.expect("send accepted")
}
