//! ScriptedProvider and its factory: a provider whose answers are scripted per call, that
//! records its requests, can hold calls open and can report deliveries.

use super::lock;
use crate::{
    domain::{Money, ProviderConfig},
    ports::{
        Balance, DeliveryReport, DeliveryStatus, ProviderError, ProviderErrorKind, ProviderFactory,
        ReportSink, SendReceipt, SendRequest, SmsProvider, StatusReport,
    },
};
use async_trait::async_trait;
use chrono::Utc;
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};
use tokio::sync::{Notify, Semaphore};

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
