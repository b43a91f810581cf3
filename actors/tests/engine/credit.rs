//! A single provider whose locally counted credit runs out: messages wait QUEUED, the balance is
//! read again promptly (not at the five-minute refresh) and at a bounded rate, and a top-up lets
//! them go.

use smsgate_actors::{
    domain::MessageStatus,
    ports::Store,
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
    },
    Engine,
};
use std::time::{Duration, Instant};

/// Waits (at most 5 s) until the provider's health satisfies `check`.
async fn wait_health(engine: &Engine, check: impl Fn(&smsgate_actors::ProviderView) -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let views = engine.providers().await.unwrap();
            if views.iter().any(&check) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("provider health reached in time");
}

#[tokio::test]
async fn when_local_credit_runs_out_the_balance_is_read_again_soon_and_a_top_up_is_used() {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let fake = factory.register("only");
    // Two messages' worth (1 cent each).
    fake.set_balance(Some(2.0));
    let mut config = provider_config("only", true, 0);
    config.settings = serde_json::json!({ "balance_recheck_ms": 50 });
    store.insert_provider(&config).await.unwrap();
    let engine = start_engine(store, factory, fast_config()).await;
    wait_health(&engine, |v| v.health.credit.is_some()).await;

    for body in ["one", "two"] {
        let m = crate::helpers::send(&engine, "0755123456", body).await;
        wait_for_status(&engine, &m.id, MessageStatus::Delivered).await;
    }
    wait_health(&engine, |v| v.health.out_of_credit).await;
    let third = crate::helpers::send(&engine, "0755123456", "three").await;
    let waiting = engine.message(third.id.as_str()).await.unwrap();
    assert_eq!(waiting.status, MessageStatus::Queued, "no credit: it waits");
    assert_eq!(fake.call_count(), 2);

    let topped_up = Instant::now();
    let reads_before = fake.balance_reads();
    fake.set_balance(Some(100.0));
    let done = wait_for_status(&engine, &third.id, MessageStatus::Delivered).await;
    assert_eq!(done.attempts, 1);
    let waited = topped_up.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "the top-up was noticed after {waited:?}"
    );
    // Rate-limited: one read per 50 ms at most (plus the one in flight).
    let reads = fake.balance_reads() - reads_before;
    let allowed = (waited.as_millis() / 50) as usize + 2;
    assert!(reads <= allowed, "{reads} balance reads in {waited:?}");
}
