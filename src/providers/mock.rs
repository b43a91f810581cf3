//! The mock provider: sends nothing, but behaves like a provider as its settings say (latency,
//! failure shares, delivery reports after a delay, a draining balance, a price), so development
//! and tests exercise every path of the engine without a network.
//!
//! Time comes from `tokio::time`, so tests under `tokio::time::pause()` control it; randomness
//! comes from one RNG, seeded by the `seed` setting when tests need the same outcomes each run.

mod settings;
#[cfg(test)]
mod tests;

pub use settings::MockSettings;

use async_trait::async_trait;
use chrono::Utc;
use rand::{rngs::StdRng, Rng, SeedableRng};
use smsgate_actors::{
    domain::{event::ErrorKind, MessageError, Money},
    ports::{
        provider::ReportSink, Balance, DeliveryReport, DeliveryStatus, ProviderError,
        ProviderErrorKind, SendReceipt, SendRequest, SmsProvider, StatusReport,
    },
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// What the mock knows, shared with the tasks that deliver its reports.
struct State {
    rng: StdRng,
    /// `None`: unlimited credit.
    balance: Option<Money>,
    /// The latest sends, oldest first: a long-running dev server must not grow without bound.
    sent: VecDeque<SendRequest>,
    /// The messages it accepted, by provider message id, as `status` answers; the oldest are
    /// forgotten past `KEEP_REPORTS`, as a real provider forgets old messages.
    reports: HashMap<String, StatusReport>,
    report_order: VecDeque<String>,
}

/// How many sends the mock remembers for `sent()`.
const KEEP_SENT: usize = 10_000;
/// How many messages the mock can answer `status` for.
const KEEP_REPORTS: usize = 10_000;

impl State {
    fn record_send(&mut self, request: &SendRequest) {
        if self.sent.len() == KEEP_SENT {
            self.sent.pop_front();
        }
        self.sent.push_back(request.clone());
    }

    fn set_report(&mut self, provider_message_id: String, report: StatusReport) {
        if self
            .reports
            .insert(provider_message_id.clone(), report)
            .is_none()
        {
            self.report_order.push_back(provider_message_id);
            if self.report_order.len() > KEEP_REPORTS {
                if let Some(oldest) = self.report_order.pop_front() {
                    self.reports.remove(&oldest);
                }
            }
        }
    }
}

pub struct MockProvider {
    slug: String,
    settings: MockSettings,
    reports: ReportSink,
    state: Arc<Mutex<State>>,
}

impl MockProvider {
    /// `slug` names the provider in the delivery reports; `reports` receives them.
    pub fn new(slug: &str, settings: MockSettings, reports: ReportSink) -> Self {
        let rng = match settings.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let balance = settings.starting_balance_cents.map(Money::from_cents);
        Self {
            slug: slug.to_owned(),
            settings,
            reports,
            state: Arc::new(Mutex::new(State {
                rng,
                balance,
                sent: VecDeque::new(),
                reports: HashMap::new(),
                report_order: VecDeque::new(),
            })),
        }
    }

    pub fn settings(&self) -> &MockSettings {
        &self.settings
    }

    /// The sends it was asked for (the latest 10,000), in order, including the ones it failed.
    pub fn sent(&self) -> Vec<SendRequest> {
        lock(&self.state).sent.iter().cloned().collect()
    }

    async fn latency(&self) {
        if self.settings.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.settings.latency_ms)).await;
        }
    }

    fn spawn_report(
        &self,
        request: &SendRequest,
        provider_message_id: String,
        report: StatusReport,
    ) {
        let state = Arc::clone(&self.state);
        let sink = Arc::clone(&self.reports);
        let provider = self.slug.clone();
        let message_id = request.message_id.clone();
        let delay = Duration::from_millis(self.settings.delivery_delay_ms);
        tokio::spawn(async move {
            // Even with no delay the report comes after the send has answered, as with a real
            // provider; the engine accepts a report that overtakes the receipt anyway.
            tokio::time::sleep(delay).await;
            let at = Utc::now();
            let report = StatusReport {
                at: Some(at),
                ..report
            };
            lock(&state).set_report(provider_message_id.clone(), report.clone());
            tracing::debug!(
                provider = %provider,
                message_id = %message_id,
                provider_message_id = %provider_message_id,
                status = ?report.status,
                "mock delivery report"
            );
            sink(DeliveryReport {
                provider,
                provider_message_id,
                message_id: Some(message_id),
                status: report.status,
                at,
                error: report.error,
            });
        });
    }
}

/// The state is plain data, updated in single statements: a panic elsewhere cannot leave it
/// half-changed, so a poisoned lock is still safe to use.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl SmsProvider for MockProvider {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        lock(&self.state).record_send(request);
        self.latency().await;

        let cost =
            Money::from_cents(self.settings.price_per_segment_cents * f64::from(request.segments));
        let (provider_message_id, final_report) = {
            let mut state = lock(&self.state);
            // One draw split into shares, so the two failure rates never overlap.
            let roll: f64 = state.rng.gen();
            if roll < self.settings.permanent_failure_rate {
                return Err(ProviderError::new(
                    ProviderErrorKind::InvalidRecipient,
                    "the mock refused the recipient (permanent_failure_rate)",
                ));
            }
            if roll < self.settings.permanent_failure_rate + self.settings.transient_failure_rate {
                return Err(ProviderError::new(
                    ProviderErrorKind::Unavailable,
                    "the mock is unavailable (transient_failure_rate)",
                ));
            }
            if let Some(balance) = state.balance {
                if balance < cost {
                    return Err(ProviderError::new(
                        ProviderErrorKind::InsufficientCredit,
                        format!(
                            "the mock's balance of {} cents cannot pay {} cents",
                            balance.cents(),
                            cost.cents()
                        ),
                    ));
                }
                state.balance = Some(balance - cost);
            }
            let id_bytes: [u8; 16] = state.rng.gen();
            let provider_message_id = format!(
                "mock-{}",
                uuid::Builder::from_random_bytes(id_bytes).into_uuid()
            );
            let undelivered = state.rng.gen::<f64>() < self.settings.undelivered_rate;
            state.set_report(
                provider_message_id.clone(),
                StatusReport {
                    status: DeliveryStatus::Pending,
                    at: None,
                    error: None,
                    cost: Some(cost),
                },
            );
            let final_report = StatusReport {
                status: if undelivered {
                    DeliveryStatus::Undelivered
                } else {
                    DeliveryStatus::Delivered
                },
                at: None,
                error: undelivered.then(|| MessageError {
                    kind: ErrorKind::Rejected,
                    message: "the mock network did not deliver it (undelivered_rate)".to_owned(),
                }),
                cost: Some(cost),
            };
            (provider_message_id, final_report)
        };

        tracing::debug!(
            provider = %self.slug,
            message_id = %request.message_id,
            provider_message_id = %provider_message_id,
            segments = request.segments,
            "mock accepted a message"
        );
        if self.settings.deliver {
            self.spawn_report(request, provider_message_id.clone(), final_report);
        }
        Ok(SendReceipt {
            provider_message_id,
            cost: Some(cost),
            segments: Some(request.segments),
        })
    }

    async fn status(&self, provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        self.latency().await;
        lock(&self.state)
            .reports
            .get(provider_message_id)
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::Rejected,
                    format!("the mock never accepted a message with id {provider_message_id}"),
                )
            })
    }

    async fn balance(&self) -> Result<Balance, ProviderError> {
        self.latency().await;
        Ok(Balance {
            credit: lock(&self.state).balance,
        })
    }
}
