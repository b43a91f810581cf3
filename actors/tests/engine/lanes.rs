//! Priority lanes, measured: a provider that takes a few messages at a time, a large marketing
//! backlog, then OTPs. The provider is saturated and one slot frees after each OTP is accepted:
//! that slot must go to the OTP, however long the backlog. OTP latency with and without the
//! backlog is printed (`--nocapture`), not asserted: wall time in a debug build on a busy CI
//! machine says little, the call order says everything.
//!
//! The backlog is the 100,000 marketing messages (`SMSGATE_LANES_BACKLOG` changes it):
//! accepting them through the engine takes 7 to 10 s in a debug build on 2 cores, which CI can
//! afford, so the test measures the real figure rather than a scaled-down one. The router keeps
//! the backlog as one queue of message ids per lane, so its size does not change the order
//! checked here.

use smsgate_actors::{
    domain::{MessageId, MessageType},
    ports::Store,
    test_support::{fast_config, provider_config, start_engine, MemoryStore, ScriptedFactory},
    Engine, SendSms,
};
use std::time::{Duration, Instant};

const MAX_CONCURRENCY: usize = 4;
const OTPS: usize = 10;

fn backlog_size() -> usize {
    std::env::var("SMSGATE_LANES_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn request(i: usize, message_type: MessageType) -> SendSms {
    SendSms {
        to: format!("+40722{:06}", i % 1_000_000),
        body: format!("{message_type:?} {i}"),
        message_type,
        ..SendSms::default()
    }
}

/// Where `id` is in the provider's call order, once it gets there (at most 10 s).
async fn call_index(
    provider: &smsgate_actors::test_support::ScriptedProvider,
    id: &MessageId,
) -> usize {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let seen = provider.call_count();
            if let Some(i) = provider.calls().iter().position(|c| &c.message_id == id) {
                return i;
            }
            provider.wait_for_calls(seen + 1).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} never reached the provider"))
}

/// Sends the OTPs one after another; returns each one's latency (`send` called → provider
/// called, so the commit is included)
/// and how many other calls the provider got between its acceptance and its own call. With
/// `release`, the provider is held and one call in flight is let go right after each OTP is
/// accepted: the one slot that frees must go to the OTP, not to the backlog.
async fn otps(
    engine: &Engine,
    provider: &smsgate_actors::test_support::ScriptedProvider,
    first: usize,
    release: bool,
) -> Vec<(Duration, usize)> {
    let mut out = Vec::new();
    for i in first..first + OTPS {
        let calls_when_accepted = provider.call_count();
        let at = Instant::now();
        // `send` returns after the router was handed the OTP (the commit callback dispatches
        // before it answers), so the slot freed below is decided with the OTP in its lane.
        let accepted = engine.send(request(i, MessageType::Otp)).await.unwrap();
        if release {
            provider.release(1);
        }
        let index = call_index(provider, &accepted.id).await;
        out.push((at.elapsed(), index - calls_when_accepted));
    }
    out
}

fn summary(latencies: &[(Duration, usize)]) -> String {
    let mut times: Vec<Duration> = latencies.iter().map(|(t, _)| *t).collect();
    times.sort();
    format!(
        "median {:?}, max {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otp_takes_the_next_free_slot_ahead_of_a_marketing_backlog() {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let provider = factory.register("slow");
    provider.set_auto_deliver(false);
    let mut config = provider_config("slow", true, 0);
    config.settings["max_concurrency"] = serde_json::json!(MAX_CONCURRENCY);
    store.insert_provider(&config).await.unwrap();
    let engine = start_engine(store.clone(), factory, fast_config()).await;

    // Without a backlog: the provider answers at once.
    let idle = otps(&engine, &provider, 0, false).await;

    // The provider is now saturated: MAX_CONCURRENCY calls held open, the backlog waiting
    // behind them. It moves only when the test lets one call go, so the order checked below
    // does not depend on timing.
    provider.hold();
    let backlog = backlog_size();
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    for i in 0..backlog {
        let engine = engine.clone();
        pending.push(async move { engine.send(request(i, MessageType::Marketing)).await });
        // Bounded concurrency keeps memory flat; the engine group-commits them anyway.
        if pending.len() >= 256 {
            use futures::StreamExt;
            pending.next().await.unwrap().unwrap();
        }
    }
    {
        use futures::StreamExt;
        while let Some(sent) = pending.next().await {
            sent.unwrap();
        }
    }
    let accepting = started.elapsed();
    let before = provider.call_count();

    let busy = otps(&engine, &provider, 1_000_000, true).await;
    let after = provider.call_count();

    println!("lanes: {backlog} marketing messages accepted in {accepting:.1?}; provider max_concurrency {MAX_CONCURRENCY}");
    println!("  OTP latency without a backlog: {}", summary(&idle));
    println!(
        "  OTP latency with the backlog:  {} (calls made meanwhile: {}, backlog left: {})",
        summary(&busy),
        after - before,
        backlog + 2 * OTPS - after
    );
    println!(
        "  calls between an OTP's acceptance and its own: {:?}",
        busy.iter().map(|(_, n)| *n).collect::<Vec<_>>()
    );

    assert!(
        after < backlog,
        "the backlog must still be waiting when the OTPs go, or the test proves nothing"
    );
    for (n, (_, calls_before)) in busy.iter().enumerate() {
        assert!(
            *calls_before == 0,
            "OTP {n} waited behind {calls_before} marketing calls"
        );
    }
}
