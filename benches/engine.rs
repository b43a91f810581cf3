//! Criterion benchmarks of the accept path: `Engine::send` until the message is durable as
//! QUEUED, one at a time and 100 concurrent, on the in-memory store and on the embedded SQLite
//! store (a real fsync per group commit).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smsgate_actors::{
    domain::MessageType,
    ports::Store,
    test_support::{provider_config, MemoryStore, ScriptedFactory},
    Engine, EngineConfig, EngineDeps, SendSms,
};
use std::sync::Arc;

fn request(i: usize) -> SendSms {
    SendSms {
        to: format!("+4075{:07}", i % 10_000_000),
        body: format!("Codul tau este {:06}", i % 1_000_000),
        message_type: MessageType::Otp,
        ..SendSms::default()
    }
}

async fn engine_on(store: Arc<dyn Store>) -> Engine {
    let factory = ScriptedFactory::new();
    factory.register("mock");
    store
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap_or_else(|e| panic!("provider: {e}"));
    Engine::start(EngineDeps {
        store,
        providers: factory,
        metrics: Arc::new(smsgate_actors::ports::NoMetrics),
        sealer: Arc::new(smsgate_actors::test_support::TestSealer),
        limiter: None,
        config: EngineConfig::default(),
    })
    .await
    .unwrap_or_else(|e| panic!("engine: {e}"))
}

fn accept(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("memory", MemoryStore::new()),
        (
            "embedded",
            Arc::new(
                smsgate::store::EmbeddedStore::open(dir.path())
                    .unwrap_or_else(|e| panic!("embedded store: {e}")),
            ),
        ),
    ];
    let mut group = c.benchmark_group("accept");
    for (name, store) in stores {
        let engine = rt.block_on(engine_on(store));
        let mut i = 0usize;
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("one", name), |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let engine = engine.clone();
                let r = request(i);
                async move { engine.send(r).await.unwrap_or_else(|e| panic!("send: {e}")) }
            })
        });
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::new("concurrent_100", name), |b| {
            b.to_async(&rt).iter(|| {
                i += 100;
                let engine = engine.clone();
                let base = i;
                async move {
                    let sends = (0..100).map(|k| {
                        let engine = engine.clone();
                        async move { engine.send(request(base + k)).await }
                    });
                    for r in futures::future::join_all(sends).await {
                        r.unwrap_or_else(|e| panic!("send: {e}"));
                    }
                }
            })
        });
        rt.block_on(engine.shutdown(std::time::Duration::from_secs(5)));
    }
    group.finish();
}

criterion_group!(benches, accept);
criterion_main!(benches);
