//! The mock provider: sends nothing, but behaves like a provider as its settings say (latency,
//! failure shares, delivery reports after a delay, a draining balance, a price), so development
//! and tests exercise every path of the engine without a network.
//!
//! Time comes from `tokio::time`, so tests under `tokio::time::pause()` control it; randomness
//! comes from one RNG, seeded by the `seed` setting when tests need the same outcomes each run.

use async_trait::async_trait;
use chrono::Utc;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Deserialize;
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

/// The mock's behaviour, read from the provider's `settings` JSON. Every key is optional; keys
/// it does not know (the engine's own, such as `max_concurrency`) are left to their owners.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MockSettings {
    /// How long each call (send, status, balance) takes, in milliseconds.
    pub latency_ms: u64,
    /// Share of sends, 0.0 to 1.0, that fail as a provider outage (`Unavailable`, retried).
    pub transient_failure_rate: f64,
    /// Share of sends, 0.0 to 1.0, that fail as a bad number (`InvalidRecipient`, final).
    /// With `transient_failure_rate`, at most 1.0 in total.
    pub permanent_failure_rate: f64,
    /// How long after an accepted send its delivery report arrives, in milliseconds.
    pub delivery_delay_ms: u64,
    /// Share of delivery reports, 0.0 to 1.0, that say UNDELIVERED instead of DELIVERED.
    pub undelivered_rate: f64,
    /// `false`: never send a delivery report; messages stay SENT, as with a provider whose
    /// webhooks are lost.
    pub deliver: bool,
    /// The credit to start from, in eurocents; `null` for unlimited. Each send lowers it by its
    /// price, and a send it cannot pay for fails with `InsufficientCredit`.
    pub starting_balance_cents: Option<f64>,
    /// What one SMS part costs, in eurocents (fractions allowed, as real providers bill).
    pub price_per_segment_cents: f64,
    /// Seeds the RNG behind the failure shares and the ids, for outcomes that repeat run to run.
    pub seed: Option<u64>,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            transient_failure_rate: 0.0,
            permanent_failure_rate: 0.0,
            delivery_delay_ms: 0,
            undelivered_rate: 0.0,
            deliver: true,
            starting_balance_cents: None,
            price_per_segment_cents: 1.0,
            seed: None,
        }
    }
}

impl MockSettings {
    /// Parses and checks the settings; `null` means all defaults. A bad value is refused (kind
    /// `Rejected`) with the key in the message, rather than silently replaced.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let parsed: Self = if settings.is_null() {
            Self::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|err| {
                ProviderError::new(
                    ProviderErrorKind::Rejected,
                    format!("invalid mock settings: {err}"),
                )
                .with_source(err)
            })?
        };
        parsed.validate()?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), ProviderError> {
        let refuse = |reason: String| {
            Err(ProviderError::new(
                ProviderErrorKind::Rejected,
                format!("invalid mock settings: {reason}"),
            ))
        };
        for (key, rate) in [
            ("transient_failure_rate", self.transient_failure_rate),
            ("permanent_failure_rate", self.permanent_failure_rate),
            ("undelivered_rate", self.undelivered_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return refuse(format!("{key} is {rate}, not between 0.0 and 1.0"));
            }
        }
        if self.transient_failure_rate + self.permanent_failure_rate > 1.0 {
            return refuse(
                "transient_failure_rate and permanent_failure_rate add up to more than 1.0"
                    .to_owned(),
            );
        }
        if !(self.price_per_segment_cents.is_finite() && self.price_per_segment_cents >= 0.0) {
            return refuse(format!(
                "price_per_segment_cents is {}, not a price",
                self.price_per_segment_cents
            ));
        }
        if let Some(balance) = self.starting_balance_cents {
            if !(balance.is_finite() && balance >= 0.0) {
                return refuse(format!(
                    "starting_balance_cents is {balance}, not a balance"
                ));
            }
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use smsgate_actors::domain::{Encoding, MessageId, MessageType, E164};
    use tokio::{sync::mpsc, time::Instant};

    fn request(segments: u32) -> SendRequest {
        SendRequest {
            message_id: MessageId::generate(),
            to: E164::parse("+40755123456").unwrap(),
            body: "Your code is 123456".to_owned(),
            sender: None,
            encoding: Encoding::Gsm7,
            segments,
            message_type: MessageType::Otp,
            validity: None,
        }
    }

    fn mock(
        settings: serde_json::Value,
    ) -> (MockProvider, mpsc::UnboundedReceiver<DeliveryReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink: ReportSink = Arc::new(move |report| {
            let _ = tx.send(report);
        });
        let settings = MockSettings::from_json(&settings).unwrap();
        (MockProvider::new("mock", settings, sink), rx)
    }

    #[tokio::test(start_paused = true)]
    async fn an_accepted_send_is_reported_delivered_after_the_delay_with_our_message_id() {
        let (provider, mut reports) = mock(serde_json::json!({"delivery_delay_ms": 5000}));
        let request = request(1);
        let started = Instant::now();

        let receipt = provider.send(&request).await.unwrap();
        assert!(receipt.provider_message_id.starts_with("mock-"));
        assert_eq!(
            provider
                .status(&receipt.provider_message_id)
                .await
                .unwrap()
                .status,
            DeliveryStatus::Pending
        );

        let report = reports.recv().await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(5000));
        assert_eq!(report.status, DeliveryStatus::Delivered);
        assert_eq!(report.message_id, Some(request.message_id));
        assert_eq!(report.provider_message_id, receipt.provider_message_id);
        assert_eq!(report.provider, "mock");
        let status = provider.status(&receipt.provider_message_id).await.unwrap();
        assert_eq!(status.status, DeliveryStatus::Delivered);
        assert_eq!(status.at, Some(report.at));
    }

    #[tokio::test(start_paused = true)]
    async fn every_call_takes_the_configured_latency() {
        let (provider, _reports) = mock(serde_json::json!({"latency_ms": 250}));
        let started = Instant::now();
        provider.send(&request(1)).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        provider.balance().await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_transient_failure_is_an_outage_that_counts_against_the_provider() {
        let (provider, _reports) = mock(serde_json::json!({"transient_failure_rate": 1.0}));
        let err = provider.send(&request(1)).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Unavailable);
        assert!(err.kind.counts_against_provider());
    }

    #[tokio::test]
    async fn a_permanent_failure_is_an_invalid_recipient() {
        let (provider, _reports) = mock(serde_json::json!({"permanent_failure_rate": 1.0}));
        let err = provider.send(&request(1)).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::InvalidRecipient);
        assert!(err.kind.is_permanent_for_message());
    }

    #[tokio::test(start_paused = true)]
    async fn the_undelivered_share_is_reported_undelivered_with_a_reason() {
        let (provider, mut reports) = mock(serde_json::json!({"undelivered_rate": 1.0}));
        let receipt = provider.send(&request(1)).await.unwrap();
        let report = reports.recv().await.unwrap();
        assert_eq!(report.status, DeliveryStatus::Undelivered);
        assert!(report.error.is_some());
        assert_eq!(
            provider
                .status(&receipt.provider_message_id)
                .await
                .unwrap()
                .status,
            DeliveryStatus::Undelivered
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_deliver_off_no_report_ever_comes() {
        let (provider, mut reports) = mock(serde_json::json!({"deliver": false}));
        let receipt = provider.send(&request(1)).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(24 * 3600), reports.recv()).await;
        assert!(waited.is_err(), "a report arrived: {waited:?}");
        assert_eq!(
            provider
                .status(&receipt.provider_message_id)
                .await
                .unwrap()
                .status,
            DeliveryStatus::Pending
        );
    }

    #[tokio::test]
    async fn each_send_is_charged_until_the_balance_cannot_pay() {
        let (provider, _reports) = mock(serde_json::json!({
            "starting_balance_cents": 3.0,
            "price_per_segment_cents": 1.0,
        }));
        assert_eq!(
            provider.balance().await.unwrap().credit,
            Some(Money::from_cents(3.0))
        );

        let receipt = provider.send(&request(2)).await.unwrap();
        assert_eq!(receipt.cost, Some(Money::from_cents(2.0)));
        assert_eq!(receipt.segments, Some(2));
        assert_eq!(
            provider.balance().await.unwrap().credit,
            Some(Money::from_cents(1.0))
        );

        let err = provider.send(&request(2)).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::InsufficientCredit);
        assert_eq!(
            provider.balance().await.unwrap().credit,
            Some(Money::from_cents(1.0)),
            "a refused send is not charged"
        );
        // What it can still pay for goes through.
        provider.send(&request(1)).await.unwrap();
    }

    #[tokio::test]
    async fn without_a_starting_balance_credit_is_unlimited_and_price_is_per_part() {
        let (provider, _reports) = mock(serde_json::json!({"price_per_segment_cents": 3.5}));
        let receipt = provider.send(&request(3)).await.unwrap();
        assert_eq!(receipt.cost, Some(Money::from_cents(10.5)));
        assert_eq!(provider.balance().await.unwrap().credit, None);
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_outcomes_and_ids() {
        let settings = serde_json::json!({"transient_failure_rate": 0.5, "seed": 7});
        let (a, _ra) = mock(settings.clone());
        let (b, _rb) = mock(settings);
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            let left = a.send(&request(1)).await.map(|r| r.provider_message_id);
            let right = b.send(&request(1)).await.map(|r| r.provider_message_id);
            assert_eq!(
                left.as_ref().map_err(|e| e.kind),
                right.as_ref().map_err(|e| e.kind)
            );
            outcomes.push(left.is_ok());
        }
        assert!(outcomes.contains(&true) && outcomes.contains(&false));
    }

    #[tokio::test]
    async fn it_records_every_send_it_was_asked_for_even_failed_ones() {
        let (provider, _reports) = mock(serde_json::json!({"permanent_failure_rate": 1.0}));
        let first = request(1);
        let _ = provider.send(&first).await;
        let _ = provider.send(&request(1)).await;
        let sent = provider.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], first);
    }

    #[tokio::test]
    async fn an_id_it_never_issued_is_refused() {
        let (provider, _reports) = mock(serde_json::Value::Null);
        let err = provider.status("mock-nope").await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Rejected);
    }

    #[test]
    fn settings_default_when_absent_and_keep_other_keys_out() {
        let settings =
            MockSettings::from_json(&serde_json::json!({"max_concurrency": 4, "latency_ms": 10}))
                .unwrap();
        assert_eq!(
            settings,
            MockSettings {
                latency_ms: 10,
                ..MockSettings::default()
            }
        );
        assert!(MockSettings::from_json(&serde_json::json!({"latency_ms": "slow"})).is_err());
        assert!(MockSettings::from_json(&serde_json::json!({
            "transient_failure_rate": 0.6,
            "permanent_failure_rate": 0.6,
        }))
        .is_err());
    }
}
