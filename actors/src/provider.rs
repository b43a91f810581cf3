//! Provider actor: one per configured provider. Owns its client, circuit breaker and credit.
//!
//! - Accepts: `Send` from the Router (via the Logger once SENDING is stored); `AwaitReceipt`
//!   from the Router for each SENT message; its own `SendCompleted`, `BalanceFetched`,
//!   `CooldownElapsed`, `RefreshBalance`, `PollDue` and `Polled`; `Health` queries.
//! - Status polling (providers whose receipts do not come by webhook, SMSO by default): each
//!   SENT message is checked after `status_poll_initial_ms`, then with a doubling interval up to
//!   `status_poll_max_ms`, until a final status or the end of its validity; at most
//!   `status_poll_batch` checks per round, one after another in a task, so the client's own
//!   rate limit paces them. A final status goes to the Router as a `Report`, like a webhook.
//! - Never: awaits the network in a handler. Each call runs as a task bounded by the provider's
//!   `max_concurrency`; the task reports the outcome to the Router directly (so an outcome is not
//!   lost if this actor crashes meanwhile) and to this actor for the breaker and the credit.
//! - Tells the Router whenever its health (circuit, credit) changes, so selection stays current.
//! - Out of credit (the provider said so, or the local count reached zero): the balance is read
//!   again after at most `balance_recheck_ms`, and again while it stays empty, so a top-up is
//!   noticed without waiting for the five-minute refresh.
//! - An ambiguous send (timed out or unreadable after the request went out) is looked up at
//!   the provider when it can list what it received (see `reconcile`), in the send's task; so
//!   is a message found in SENDING at start-up (`Reconcile` from the Router).
//! - On a crash: the supervisor restarts it from the stored configuration; the breaker starts
//!   closed and the credit is read again from the provider.

pub use crate::protocol::{ProviderHealth, ProviderMsg, SendJob};

use crate::{
    domain::{MessageId, Money, ProviderConfig, ProviderSettings},
    policy::breaker::{CircuitBreaker, CircuitState},
    ports::{DeliveryReport, DeliveryStatus},
    ports::{EngineMetrics, ProviderError, ProviderErrorKind, SendReceipt, SmsProvider},
    protocol::RouterMsg,
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use reconcile::Reconcile;
use std::{collections::HashMap, panic::AssertUnwindSafe, sync::Arc, time::Duration};
use tokio::{sync::Semaphore, time::Instant};

mod reconcile;

/// How often credit is read again from the provider, so a top-up is noticed.
const BALANCE_REFRESH: Duration = Duration::from_secs(300);

pub struct ProviderActor;

pub struct ProviderArgs {
    pub config: ProviderConfig,
    pub client: Arc<dyn SmsProvider>,
    pub router: ActorRef<RouterMsg>,
    pub metrics: Arc<dyn EngineMetrics>,
}

pub struct ProviderState {
    slug: String,
    client: Arc<dyn SmsProvider>,
    router: ActorRef<RouterMsg>,
    metrics: Arc<dyn EngineMetrics>,
    breaker: CircuitBreaker,
    credit: Option<Money>,
    out_of_credit: bool,
    permits: Arc<Semaphore>,
    last_reported: Option<ProviderHealth>,
    /// The latest answer refused our credentials or credit: the alerts say so; the log says
    /// it once per episode, not per message.
    refused: Option<ProviderErrorKind>,
    balance_check_failing: bool,
    /// `None` when this provider's receipts come by webhook only.
    polling: Option<Polling>,
    balance_recheck: Duration,
    reconcile: Option<Reconcile>,
    /// A `RecheckBalance` is pending, so timers are not piled up.
    recheck_armed: bool,
    last_balance_read: Option<Instant>,
}

/// The SENT messages this provider polls, and when each is due.
struct Polling {
    initial: Duration,
    max: Duration,
    batch: usize,
    waiting: HashMap<MessageId, PollEntry>,
    /// When the next `PollDue` is already set to fire, so timers are not piled up.
    armed_for: Option<Instant>,
    /// A round's task is running. Another round waits for it: without this, a backlog larger
    /// than a batch re-armed at once and ran every batch in parallel, bursting the provider.
    round_running: bool,
}

struct PollEntry {
    provider_message_id: String,
    expires_at: DateTime<Utc>,
    due: Instant,
    interval: Duration,
    /// A check is running: it is not started again until its outcome is back.
    in_flight: bool,
}

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = ProviderState;
    type Arguments = ProviderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ProviderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let settings = ProviderSettings::from_json(&args.config.settings);
        let polls = settings.polls_status(args.config.kind);
        if polls && !args.client.can_poll_status() {
            tracing::warn!(provider = %args.config.slug, "status_poll is set but this provider has no status endpoint: its messages are not polled");
        }
        let polls = polls && args.client.can_poll_status();
        myself.send_interval(BALANCE_REFRESH, || ProviderMsg::RefreshBalance);
        let _ = myself.cast(ProviderMsg::RefreshBalance);
        Ok(ProviderState {
            slug: args.config.slug.clone(),
            client: args.client,
            router: args.router,
            metrics: args.metrics,
            breaker: CircuitBreaker::new(&settings),
            credit: None,
            out_of_credit: false,
            permits: Arc::new(Semaphore::new(settings.max_concurrency)),
            last_reported: None,
            refused: None,
            balance_check_failing: false,
            polling: polls.then(|| Polling {
                initial: Duration::from_millis(settings.status_poll_initial_ms),
                max: Duration::from_millis(settings.status_poll_max_ms),
                batch: settings.status_poll_batch,
                waiting: HashMap::new(),
                armed_for: None,
                round_running: false,
            }),
            balance_recheck: Duration::from_millis(settings.balance_recheck_ms),
            reconcile: Some(Reconcile {
                delay: Duration::from_millis(settings.reconcile_delay_ms),
                attempts: settings.reconcile_attempts,
            }),
            recheck_armed: false,
            last_balance_read: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProviderMsg::Send(job) => state.start_send(&myself, job),
            ProviderMsg::SendCompleted { failed, cost } => {
                let now = Instant::now();
                let counts = failed.is_some_and(|k| k.counts_against_provider());
                if let Some(change) = state.breaker.record(counts, now) {
                    state.metrics.circuit_state(&state.slug, change.gauge());
                    if change == CircuitState::Open {
                        tracing::warn!(provider = %state.slug, "circuit opened");
                        myself
                            .send_after(state.breaker.cooldown(), || ProviderMsg::CooldownElapsed);
                    } else {
                        tracing::info!(provider = %state.slug, state = change.as_str(), "circuit changed");
                    }
                }
                match failed {
                    Some(kind @ ProviderErrorKind::InsufficientCredit) => {
                        state.note_refusal(kind);
                        state.out_of_credit = true;
                        state.credit = Some(Money::ZERO);
                    }
                    Some(kind @ ProviderErrorKind::InvalidCredentials) => state.note_refusal(kind),
                    Some(_) => {}
                    None => {
                        state.refused = None;
                        if let (Some(credit), Some(cost)) = (state.credit, cost) {
                            let left = credit - cost;
                            state.credit = Some(left);
                            state.out_of_credit = !left.is_positive();
                        }
                    }
                }
                if let Some(credit) = state.credit {
                    state.metrics.credit(&state.slug, credit.cents());
                }
                state.arm_balance_recheck(&myself);
                state.report_health();
            }
            ProviderMsg::BalanceFetched(result) => {
                state.balance_check_failing = result
                    .as_ref()
                    .is_err_and(|e| e.kind != ProviderErrorKind::InsufficientCredit);
                match result {
                    Ok(balance) => {
                        state.credit = balance.credit;
                        state.out_of_credit = balance.credit.is_some_and(|c| !c.is_positive());
                        // The provider took our credentials; an empty account still refuses.
                        if !state.out_of_credit {
                            state.refused = None;
                        }
                        if let Some(credit) = balance.credit {
                            state.metrics.credit(&state.slug, credit.cents());
                        }
                    }
                    Err(err) => {
                        tracing::warn!(provider = %state.slug, error.message = %err, "balance check failed");
                        if err.kind == ProviderErrorKind::InsufficientCredit {
                            state.out_of_credit = true;
                        }
                        if matches!(
                            err.kind,
                            ProviderErrorKind::InsufficientCredit
                                | ProviderErrorKind::InvalidCredentials
                        ) {
                            state.note_refusal(err.kind);
                        }
                    }
                }
                state.arm_balance_recheck(&myself);
                state.report_health();
            }
            ProviderMsg::RefreshBalance => state.read_balance(&myself),
            ProviderMsg::RecheckBalance => {
                state.recheck_armed = false;
                if state.out_of_credit {
                    state.read_balance(&myself);
                }
            }
            ProviderMsg::CooldownElapsed => {
                if let Some(change) = state.breaker.poll(Instant::now()) {
                    state.metrics.circuit_state(&state.slug, change.gauge());
                    tracing::info!(provider = %state.slug, "circuit half-open: one probe allowed");
                    state.report_health();
                }
            }
            ProviderMsg::Health(reply) => {
                let _ = reply.send(state.health());
            }
            ProviderMsg::AwaitReceipt {
                message_id,
                provider_message_id,
                expires_at,
            } => {
                if let Some(polling) = &mut state.polling {
                    let due = Instant::now() + polling.initial;
                    polling.waiting.insert(
                        message_id,
                        PollEntry {
                            provider_message_id,
                            expires_at,
                            due,
                            interval: polling.initial,
                            in_flight: false,
                        },
                    );
                    polling.arm(&myself);
                }
            }
            ProviderMsg::Reconcile { request, since } => {
                let client = state.client.clone();
                let router = state.router.clone();
                let slug = state.slug.clone();
                // At start-up the look-up can go at once: the send is long over.
                let plan = state.reconcile.map(|p| Reconcile {
                    delay: Duration::ZERO,
                    ..p
                });
                tokio::spawn(async move {
                    let ambiguous = ProviderError::new(
                        ProviderErrorKind::Ambiguous,
                        "the process stopped during the provider call; not resent, to avoid a duplicate",
                    );
                    let result =
                        reconcile::settle(client.as_ref(), plan, &slug, &request, since, ambiguous)
                            .await;
                    let _ = router.cast(RouterMsg::SendFinished {
                        message_id: request.message_id.clone(),
                        provider: slug,
                        result,
                    });
                });
            }
            ProviderMsg::PollDue => state.start_polls(&myself),
            ProviderMsg::Polled {
                message_id,
                done,
                last_of_round,
            } => {
                if let Some(polling) = &mut state.polling {
                    if last_of_round {
                        polling.round_running = false;
                    }
                    if done {
                        polling.waiting.remove(&message_id);
                    } else if let Some(entry) = polling.waiting.get_mut(&message_id) {
                        entry.in_flight = false;
                        entry.interval = (entry.interval * 2).min(polling.max);
                        entry.due = Instant::now() + entry.interval;
                    }
                    polling.arm(&myself);
                }
            }
            #[cfg(any(test, feature = "test-support"))]
            ProviderMsg::Crash => {
                return Err(format!("injected fault in provider {}", state.slug).into());
            }
        }
        Ok(())
    }
}

fn error_label<T>(result: &Result<T, ProviderError>) -> Option<&'static str> {
    result
        .as_ref()
        .err()
        .map(|e| crate::domain::event::ErrorKind::from(e.kind).as_str())
}

impl Polling {
    /// Sets a `PollDue` for the earliest waiting check, unless one fires before it already.
    fn arm(&mut self, myself: &ActorRef<ProviderMsg>) {
        let now = Instant::now();
        if self.armed_for.is_some_and(|at| at <= now) {
            self.armed_for = None;
        }
        let Some(next) = self
            .waiting
            .values()
            .filter(|e| !e.in_flight)
            .map(|e| e.due)
            .min()
        else {
            return;
        };
        if self.armed_for.is_some_and(|at| at <= next) {
            return;
        }
        self.armed_for = Some(next);
        myself.send_after(next.saturating_duration_since(now), || ProviderMsg::PollDue);
    }
}

impl ProviderState {
    fn read_balance(&mut self, myself: &ActorRef<ProviderMsg>) {
        self.last_balance_read = Some(Instant::now());
        let client = self.client.clone();
        let me = myself.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = client.balance().await;
            metrics.provider_call(&slug, "balance", started.elapsed(), error_label(&result));
            let _ = me.cast(ProviderMsg::BalanceFetched(result));
        });
    }

    /// While out of credit, reads the balance again once `balance_recheck` has passed since the
    /// last read: soon enough to notice a top-up, never more often than that.
    fn arm_balance_recheck(&mut self, myself: &ActorRef<ProviderMsg>) {
        if !self.out_of_credit || self.recheck_armed {
            return;
        }
        let now = Instant::now();
        let wait = self.last_balance_read.map_or(Duration::ZERO, |at| {
            (at + self.balance_recheck).saturating_duration_since(now)
        });
        self.recheck_armed = true;
        myself.send_after(wait, || ProviderMsg::RecheckBalance);
    }

    /// Starts the due status checks (at most a batch) as one task; never awaits here.
    fn start_polls(&mut self, myself: &ActorRef<ProviderMsg>) {
        let Some(polling) = &mut self.polling else {
            return;
        };
        polling.armed_for = None;
        if polling.round_running {
            // The round's last outcome arms the next `PollDue`.
            return;
        }
        let now = Instant::now();
        let today = Utc::now();
        polling.waiting.retain(|id, e| {
            let keep = e.expires_at > today;
            if !keep {
                tracing::debug!(message_id = %id, "validity over: no more status checks");
            }
            keep
        });
        let due: Vec<(MessageId, String)> = polling
            .waiting
            .iter_mut()
            .filter(|(_, e)| !e.in_flight && e.due <= now)
            .take(polling.batch)
            .map(|(id, e)| {
                e.in_flight = true;
                (id.clone(), e.provider_message_id.clone())
            })
            .collect();
        if due.is_empty() {
            polling.arm(myself);
            return;
        }
        polling.round_running = true;
        let client = self.client.clone();
        let router = self.router.clone();
        let me = myself.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        tokio::spawn(async move {
            let count = due.len();
            for (i, (message_id, provider_message_id)) in due.into_iter().enumerate() {
                let started = Instant::now();
                let result = AssertUnwindSafe(client.status(&provider_message_id))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ProviderErrorKind::Unavailable,
                            "the provider client failed unexpectedly",
                        ))
                    });
                metrics.provider_call(&slug, "status", started.elapsed(), error_label(&result));
                let done = match result {
                    Ok(report) if report.status != DeliveryStatus::Pending => {
                        let _ = router.cast(RouterMsg::Report(DeliveryReport {
                            provider: slug.clone(),
                            provider_message_id,
                            message_id: Some(message_id.clone()),
                            status: report.status,
                            at: report.at.unwrap_or_else(Utc::now),
                            error: report.error,
                        }));
                        true
                    }
                    Ok(_) => false,
                    Err(err) => {
                        // Checked again later, with the same backoff as a pending answer.
                        tracing::debug!(provider = %slug, message_id = %message_id, error.message = %err, "status check failed");
                        false
                    }
                };
                let _ = me.cast(ProviderMsg::Polled {
                    message_id,
                    done,
                    last_of_round: i + 1 == count,
                });
            }
        });
    }

    fn health(&self) -> ProviderHealth {
        ProviderHealth {
            circuit: self.breaker.state(),
            credit: self.credit,
            out_of_credit: self.out_of_credit,
            consecutive_failures: self.breaker.consecutive_failures(),
            balance_check_failing: self.balance_check_failing,
            refused: self.refused,
        }
    }

    /// The provider refused our credentials or credit. The admin hears of it from the
    /// provider-rejected alert; the log says it once per episode, not per message.
    fn note_refusal(&mut self, kind: ProviderErrorKind) {
        if self.refused != Some(kind) {
            let reason = match kind {
                ProviderErrorKind::InvalidCredentials => "the provider refused our credentials",
                _ => "the provider says we are out of credit",
            };
            tracing::warn!(provider = %self.slug, error.kind = ?kind, "{reason}; messages fail over");
        }
        self.refused = Some(kind);
    }

    fn report_health(&mut self) {
        let health = self.health();
        if self.last_reported.as_ref() != Some(&health) {
            let _ = self.router.cast(RouterMsg::ProviderHealth {
                slug: self.slug.clone(),
                health: health.clone(),
            });
            self.last_reported = Some(health);
        }
    }

    fn start_send(&mut self, myself: &ActorRef<ProviderMsg>, job: SendJob) {
        if !self.breaker.try_acquire(Instant::now()) {
            // The Router chose us before it heard the circuit opened: hand the message back.
            let err = ProviderError::new(
                ProviderErrorKind::Unavailable,
                "the provider's circuit is open",
            );
            let _ = self.router.cast(RouterMsg::SendFinished {
                message_id: job.message_id,
                provider: self.slug.clone(),
                result: Err(err),
            });
            return;
        }
        let client = self.client.clone();
        let router = self.router.clone();
        let me = myself.clone();
        let permits = self.permits.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        let plan = self.reconcile;
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let started = Instant::now();
            // Allows for a provider clock a little behind ours when it lists what it received.
            let since = Utc::now() - chrono::Duration::seconds(60);
            // A panicking client must not strand the message in SENDING: it becomes an error.
            let result: Result<SendReceipt, ProviderError> =
                AssertUnwindSafe(client.send(&job.request))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ProviderErrorKind::Unavailable,
                            "the provider client failed unexpectedly",
                        ))
                    });
            metrics.provider_call(&slug, "send", started.elapsed(), error_label(&result));
            // The breaker counts the call as it went (a slow or garbled answer is a failure),
            // whatever the look-up finds.
            let first_failure = result.as_ref().err().map(|e| e.kind);
            let result = match result {
                Err(err) if err.kind == ProviderErrorKind::Ambiguous => {
                    reconcile::settle(client.as_ref(), plan, &slug, &job.request, since, err).await
                }
                other => other,
            };
            let (failed, cost) = match &result {
                Ok(receipt) => (None, receipt.cost),
                Err(err) => {
                    tracing::debug!(provider = %slug, message_id = %job.message_id, error.message = %err, "send failed");
                    (Some(err.kind), None)
                }
            };
            let _ = router.cast(RouterMsg::SendFinished {
                message_id: job.message_id,
                provider: slug,
                result,
            });
            let failed = failed.or(first_failure);
            let _ = me.cast(ProviderMsg::SendCompleted { failed, cost });
        });
    }
}
