//! Fakes of the engine's ports for tests (feature `test-support`): an in-memory store with fault
//! injection, a scripted provider that records its calls, and helpers to start and watch an engine.

use crate::{
    domain::stats::{merge_rows, rows_for_day, StatsRebuild},
    domain::{
        Message, MessageFilter, MessageId, MessageStatus, Money, Page, PageRequest, ProviderConfig,
        ProviderId, ProviderKind, StatsDelta, StatsQuery,
    },
    engine::{Engine, EngineConfig, EngineDeps},
    ports::{
        Balance, DeliveryReport, DeliveryStatus, MessageWrite, NoMetrics, ProviderError,
        ProviderErrorKind, ProviderFactory, ReportSink, SendReceipt, SendRequest, SmsProvider,
        StatusReport, Store, StoreError, WriteOutcome,
    },
    updates::UpdateFilter,
};
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::sync::{Notify, Semaphore};

pub mod mixed_run;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct MemoryInner {
    messages: BTreeMap<MessageId, Message>,
    keys: HashMap<String, MessageId>,
    providers: Vec<ProviderConfig>,
    stats: StatsTable,
    alerts: Vec<crate::alerts::Alert>,
}

/// An in-memory `Store`. `set_failing(true)` makes every write fail as an unreachable store would.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
    failing: AtomicBool,
    commits: AtomicUsize,
    refused: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many commits ran: fewer than writes shows that writes were batched.
    pub fn commit_count(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    /// Commits refused by an injected failure.
    pub fn refused_count(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    pub fn message_count(&self) -> usize {
        lock(&self.inner).messages.len()
    }

    /// Puts a message in the store as if an earlier process had written it.
    pub fn seed_message(&self, message: Message) {
        lock(&self.inner)
            .messages
            .insert(message.id.clone(), message);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("injected store failure".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl crate::ports::AlertLog for MemoryStore {
    async fn record_alert(&self, alert: &crate::alerts::Alert) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if !inner
            .alerts
            .iter()
            .any(|a| a.id == alert.id && a.notice == alert.notice)
        {
            inner.alerts.push(alert.clone());
        }
        Ok(())
    }

    async fn alert_history(
        &self,
        query: &crate::alerts::AlertQuery,
    ) -> Result<Vec<crate::alerts::Alert>, StoreError> {
        self.check()?;
        let mut found: Vec<_> = lock(&self.inner)
            .alerts
            .iter()
            .filter(|a| query.matches(a))
            .cloned()
            .collect();
        found.sort_by(crate::alerts::newest_first);
        found.truncate(query.limit);
        Ok(found)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }

    async fn commit(&self, writes: &[MessageWrite]) -> Result<Vec<WriteOutcome>, StoreError> {
        if let Err(err) = self.check() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(err);
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        let mut inner = lock(&self.inner);
        let mut out = Vec::with_capacity(writes.len());
        for write in writes {
            match write {
                MessageWrite::Insert(m) => {
                    if let Some(key) = &m.idempotency_key {
                        if let Some(existing) = inner.keys.get(key) {
                            out.push(WriteOutcome::DuplicateIdempotencyKey(existing.clone()));
                            continue;
                        }
                        inner.keys.insert(key.clone(), m.id.clone());
                    }
                    inner.messages.insert(m.id.clone(), (**m).clone());
                    out.push(WriteOutcome::Applied);
                }
                MessageWrite::Update { message, event } => {
                    let Some(stored) = inner.messages.get_mut(&message.id) else {
                        return Err(StoreError::NotFound(message.id.to_string()));
                    };
                    let mut events = std::mem::take(&mut stored.events);
                    events.push(event.clone());
                    *stored = Message {
                        events,
                        ..(**message).clone()
                    };
                    out.push(WriteOutcome::Applied);
                }
            }
        }
        Ok(out)
    }

    async fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.inner).messages.get(id).cloned())
    }

    async fn message_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.inner)
            .messages
            .values()
            .find(|m| {
                m.provider.as_deref() == Some(provider)
                    && m.provider_message_id.as_deref() == Some(provider_message_id)
            })
            .cloned())
    }

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
        let inner = lock(&self.inner);
        Ok(inner
            .keys
            .get(key)
            .and_then(|id| inner.messages.get(id))
            .cloned())
    }

    async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let inner = lock(&self.inner);
        let mut items: Vec<Message> = inner
            .messages
            .values()
            .rev()
            .filter(|m| page.after.as_ref().is_none_or(|after| m.id < *after))
            .filter(|m| filter.matches(m))
            .take(page.first + 1)
            .cloned()
            .collect();
        let has_next_page = items.len() > page.first;
        items.truncate(page.first);
        Ok(Page {
            items,
            has_next_page,
        })
    }

    async fn unfinished_messages(&self) -> Result<Vec<Message>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner)
            .messages
            .values()
            .filter(|m| !m.status.is_final())
            .cloned()
            .collect())
    }

    async fn providers(&self) -> Result<Vec<ProviderConfig>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).providers.clone())
    }

    async fn provider(&self, id: &ProviderId) -> Result<Option<ProviderConfig>, StoreError> {
        Ok(lock(&self.inner)
            .providers
            .iter()
            .find(|p| p.id == *id)
            .cloned())
    }

    async fn insert_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if inner.providers.iter().any(|p| p.slug == provider.slug) {
            return Err(StoreError::Conflict(format!("provider {}", provider.slug)));
        }
        inner.providers.push(provider.clone());
        Ok(())
    }

    async fn update_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let slot = inner
            .providers
            .iter_mut()
            .find(|p| p.id == provider.id)
            .ok_or_else(|| StoreError::NotFound(provider.id.to_string()))?;
        *slot = provider.clone();
        Ok(())
    }

    async fn delete_provider(&self, id: &ProviderId) -> Result<bool, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let before = inner.providers.len();
        inner.providers.retain(|p| p.id != *id);
        Ok(inner.providers.len() != before)
    }

    async fn set_default_provider(&self, id: &ProviderId) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if !inner.providers.iter().any(|p| p.id == *id) {
            return Err(StoreError::NotFound(id.to_string()));
        }
        for p in &mut inner.providers {
            p.is_default = p.id == *id;
        }
        Ok(())
    }

    async fn commit_with_statistics(
        &self,
        writes: &[MessageWrite],
        stats: &[StatsDelta],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let outcomes = self.commit(writes).await?;
        // No second `check`: a failure injected between the two steps would keep the writes
        // and refuse their figures, which the real store's one transaction cannot do.
        merge_stats(&mut lock(&self.inner).stats, stats);
        Ok(outcomes)
    }

    async fn add_statistics(&self, deltas: &[StatsDelta]) -> Result<(), StoreError> {
        self.check()?;
        merge_stats(&mut lock(&self.inner).stats, deltas);
        Ok(())
    }

    async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
        let mut rows: Vec<StatsDelta> = lock(&self.inner)
            .stats
            .values()
            .filter(|d| query.matches(d))
            .cloned()
            .collect();
        // The contract's order, as the other stores give it; the map's own order is random.
        rows.sort_by(|a, b| {
            (a.day, a.hour, &a.provider, a.message_type.as_str()).cmp(&(
                b.day,
                b.hour,
                &b.provider,
                b.message_type.as_str(),
            ))
        });
        Ok(rows)
    }

    async fn rebuild_statistics(&self, day: NaiveDate) -> Result<StatsRebuild, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let after = rows_for_day(day, inner.messages.values());
        let before = merge_rows(inner.stats.values().filter(|d| d.day == day).cloned());
        inner.stats.retain(|(d, ..), _| *d != day);
        merge_stats(&mut inner.stats, &after);
        Ok(StatsRebuild { day, before, after })
    }
}

/// What a scripted provider does with the next send.
#[derive(Debug, Clone)]
pub enum Scripted {
    Accept {
        cost_cents: f64,
    },
    Fail(ProviderErrorKind),
    /// Panic inside the provider call (the task, not the actor).
    Panic,
}

/// A provider whose answers are scripted, one per call; with nothing scripted it accepts at
/// 1 cent per part. It records every request, can hold calls open, and can report deliveries.
pub struct ScriptedProvider {
    script: Mutex<VecDeque<Scripted>>,
    calls: Mutex<Vec<SendRequest>>,
    balance: Mutex<Option<Money>>,
    /// When set, balance checks fail as an unreachable balance API would.
    balance_fails: AtomicBool,
    /// When set, each accepted send is followed by a DELIVERED receipt.
    auto_deliver: AtomicBool,
    gate: Semaphore,
    gated: AtomicBool,
    sink: Mutex<Option<ReportSink>>,
    called: Notify,
    counter: AtomicUsize,
    /// When set, the provider can look sends up: the texts it "has", as a real provider's
    /// records would (see `set_records`).
    records: Mutex<Option<Vec<String>>>,
    lookups: AtomicUsize,
    balance_reads: AtomicUsize,
}

impl ScriptedProvider {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            balance: Mutex::new(None),
            balance_fails: AtomicBool::new(false),
            auto_deliver: AtomicBool::new(true),
            gate: Semaphore::new(0),
            gated: AtomicBool::new(false),
            sink: Mutex::new(None),
            called: Notify::new(),
            counter: AtomicUsize::new(0),
            records: Mutex::new(None),
            lookups: AtomicUsize::new(0),
            balance_reads: AtomicUsize::new(0),
        })
    }

    pub fn push(&self, outcome: Scripted) -> &Self {
        lock(&self.script).push_back(outcome);
        self
    }

    pub fn fail_next(&self, kind: ProviderErrorKind, times: usize) -> &Self {
        for _ in 0..times {
            self.push(Scripted::Fail(kind));
        }
        self
    }

    pub fn set_balance(&self, cents: Option<f64>) {
        *lock(&self.balance) = cents.map(Money::from_cents);
    }

    pub fn set_balance_failing(&self, failing: bool) {
        self.balance_fails.store(failing, Ordering::SeqCst);
    }

    pub fn set_auto_deliver(&self, on: bool) {
        self.auto_deliver.store(on, Ordering::SeqCst);
    }

    /// Holds every call open until `release` lets them through.
    pub fn hold(&self) {
        self.gated.store(true, Ordering::SeqCst);
    }

    pub fn release(&self, calls: usize) {
        self.gate.add_permits(calls);
    }

    pub fn calls(&self) -> Vec<SendRequest> {
        lock(&self.calls).clone()
    }

    pub fn call_count(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Waits until at least `n` calls were made (bounded by a timeout in the caller).
    pub async fn wait_for_calls(&self, n: usize) {
        loop {
            let notified = self.called.notified();
            if self.call_count() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Gives the provider a way to look sends up, answering from these texts: a request whose
    /// body is among them is found, any other is not.
    pub fn set_records(&self, bodies: &[&str]) {
        *lock(&self.records) = Some(bodies.iter().map(|b| (*b).to_owned()).collect());
    }

    pub fn balance_reads(&self) -> usize {
        self.balance_reads.load(Ordering::SeqCst)
    }

    pub fn lookup_count(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// Sends a receipt as the provider's webhook would.
    pub fn report(&self, report: DeliveryReport) {
        if let Some(sink) = lock(&self.sink).clone() {
            sink(report);
        }
    }
}

#[async_trait]
impl SmsProvider for ScriptedProvider {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        lock(&self.calls).push(request.clone());
        self.called.notify_waiters();
        if self.gated.load(Ordering::SeqCst) {
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
        }
        let next = lock(&self.script).pop_front();
        match next.unwrap_or(Scripted::Accept { cost_cents: 1.0 }) {
            Scripted::Accept { cost_cents } => {
                let n = self.counter.fetch_add(1, Ordering::SeqCst);
                let provider_message_id = format!("scripted-{n}");
                if self.auto_deliver.load(Ordering::SeqCst) {
                    let sink = lock(&self.sink).clone();
                    if let Some(sink) = sink {
                        let report = DeliveryReport {
                            provider: String::new(),
                            provider_message_id: provider_message_id.clone(),
                            message_id: Some(request.message_id.clone()),
                            status: DeliveryStatus::Delivered,
                            at: Utc::now(),
                            error: None,
                        };
                        tokio::spawn(async move { sink(report) });
                    }
                }
                Ok(SendReceipt {
                    provider_message_id,
                    cost: Some(Money::from_cents(cost_cents) * request.segments),
                    segments: Some(request.segments),
                })
            }
            Scripted::Fail(kind) => Err(ProviderError::new(kind, format!("scripted {kind:?}"))),
            Scripted::Panic => panic!("scripted panic inside a provider call"),
        }
    }

    async fn status(&self, _provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        Ok(StatusReport {
            status: DeliveryStatus::Pending,
            at: None,
            error: None,
            cost: None,
        })
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        self.balance_reads.fetch_add(1, Ordering::SeqCst);
        if self.balance_fails.load(Ordering::SeqCst) {
            return Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                "scripted balance failure",
            ));
        }
        Ok(Balance {
            credit: *lock(&self.balance),
        })
    }

    fn can_look_up_sends(&self) -> bool {
        lock(&self.records).is_some()
    }

    async fn look_up_send(
        &self,
        request: &SendRequest,
        _since: chrono::DateTime<Utc>,
    ) -> Result<crate::ports::SendLookup, ProviderError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found = lock(&self.records)
            .as_ref()
            .is_some_and(|r| r.contains(&request.body));
        Ok(if found {
            crate::ports::SendLookup::Found(SendReceipt {
                provider_message_id: format!("found-{}", request.message_id),
                cost: None,
                segments: None,
            })
        } else {
            crate::ports::SendLookup::NotFound
        })
    }
}

/// Hands out the scripted provider registered for each slug; counts builds (restarts).
#[derive(Default)]
pub struct ScriptedFactory {
    providers: Mutex<HashMap<String, Arc<ScriptedProvider>>>,
    builds: AtomicUsize,
}

impl ScriptedFactory {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn register(&self, slug: &str) -> Arc<ScriptedProvider> {
        let p = ScriptedProvider::new();
        lock(&self.providers).insert(slug.to_owned(), p.clone());
        p
    }

    pub fn build_count(&self) -> usize {
        self.builds.load(Ordering::SeqCst)
    }
}

impl ProviderFactory for ScriptedFactory {
    fn build(
        &self,
        config: &ProviderConfig,
        reports: ReportSink,
    ) -> Result<Arc<dyn SmsProvider>, ProviderError> {
        let provider = lock(&self.providers)
            .get(&config.slug)
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(ProviderErrorKind::Rejected, "no scripted provider")
            })?;
        let slug = config.slug.clone();
        // Receipts name their provider by slug, as webhooks do.
        *lock(&provider.sink) = Some(Arc::new(move |mut r: DeliveryReport| {
            if r.provider.is_empty() {
                r.provider = slug.clone();
            }
            reports(r)
        }));
        self.builds.fetch_add(1, Ordering::SeqCst);
        Ok(provider)
    }
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

type StatsTable = HashMap<(NaiveDate, u32, String, crate::domain::MessageType), StatsDelta>;

fn merge_stats(table: &mut StatsTable, deltas: &[StatsDelta]) {
    for d in deltas {
        table
            .entry((d.day, d.hour, d.provider.clone(), d.message_type))
            .and_modify(|acc| acc.merge(d))
            .or_insert_with(|| d.clone());
    }
}
