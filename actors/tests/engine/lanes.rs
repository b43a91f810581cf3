//! Priority lanes, measured: a provider that takes a few messages at a time, a large marketing
//! backlog, then OTPs. Each OTP must reach the provider within the next `max_concurrency` calls
//! after it was accepted, however long the backlog. OTP latency with and without the backlog is
//! printed (`--nocapture`), not asserted: wall time in a debug build on a busy CI machine says
//! little, the call order says everything.
//!
//! The backlog is the 100,000 marketing messages (`SMSGATE_LANES_BACKLOG` changes it):
//! accepting them through the engine takes about 7 s in a debug build on 2 cores, which CI can
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

/// Sends the OTPs one after another; returns each one's latency (accepted → provider called)
/// and how many calls after its acceptance it was made.
async fn otps(
    engine: &Engine,
    provider: &smsgate_actors::test_support::ScriptedProvider,
    first: usize,
) -> Vec<(Duration, usize)> {
    let mut out = Vec::new();
    for i in first..first + OTPS {
        let accepted = engine.send(request(i, MessageType::Otp)).await.unwrap();
        let at = Instant::now();
        let calls_when_accepted = provider.call_count();
        let index = call_index(provider, &accepted.id).await;
        out.push((at.elapsed(), index.saturating_sub(calls_when_accepted)));
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
async fn an_otp_overtakes_a_marketing_backlog_within_one_round_of_calls() {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let provider = factory.register("slow");
    provider.set_auto_deliver(false);
    let mut config = provider_config("slow", true, 0);
    config.settings["max_concurrency"] = serde_json::json!(MAX_CONCURRENCY);
    store.insert_provider(&config).await.unwrap();
    let engine = start_engine(store.clone(), factory, fast_config()).await;

    // Without a backlog: the provider answers at once.
    let idle = otps(&engine, &provider, 0).await;

    // The provider now takes a message every millisecond or so, never more than
    // MAX_CONCURRENCY at once, while the backlog is accepted far faster than that.
    provider.hold();
    let releaser = {
        let provider = provider.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            loop {
                tick.tick().await;
                provider.release(1);
            }
        })
    };
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

    let busy = otps(&engine, &provider, 1_000_000).await;
    let after = provider.call_count();
    releaser.abort();

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
            *calls_before <= MAX_CONCURRENCY,
            "OTP {n} waited behind {calls_before} marketing calls"
        );
    }
}
