//! Provider actor: one per configured provider. Owns its client, circuit breaker and credit.
//!
//! - Accepts: `Send` from the Router (via the Logger once SENDING is stored); `AwaitReceipt`
//!   from the Router for each SENT message; its own `SendCompleted`, `BalanceFetched`,
//!   `CooldownElapsed`, `RefreshBalance`, `PollDue` and `Polled`; `Health` queries.
//! - Status polling (providers whose receipts do not come by webhook, SMSO by default): see
//!   `polling`; a final status goes to the Router as a `Report`, like a webhook.
//! - Never: awaits the network in a handler. Each call runs as a task bounded by the provider's
//!   `max_concurrency`; the task reports the outcome to the Router directly (so an outcome is not
//!   lost if this actor crashes meanwhile) and to this actor for the breaker and the credit.
//! - Tells the Router whenever its health (circuit, credit) changes, so selection stays current.
//! - Out of credit (the provider said so, or the local count reached zero): the balance is read
//!   again after at most `balance_recheck_ms`, and again while it stays empty (see `credit`).
//! - An ambiguous send (timed out or unreadable after the request went out) is looked up at
//!   the provider when it can list what it received (see `reconcile`), in the send's task; so
//!   is a message found in SENDING at start-up (`Reconcile` from the Router). See `send`.
//! - On a crash: the supervisor restarts it from the stored configuration; the breaker starts
//!   closed and the credit is read again from the provider.

pub use crate::protocol::{ProviderHealth, ProviderMsg, SendJob};

use crate::{
    domain::{Money, ProviderConfig, ProviderSettings},
    policy::breaker::{CircuitBreaker, CircuitState},
    ports::{EngineMetrics, ProviderErrorKind, SmsProvider},
    protocol::RouterMsg,
};
use polling::Polling;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use reconcile::Reconcile;
use std::{sync::Arc, time::Duration};
use tokio::{sync::Semaphore, time::Instant};

mod credit;
mod polling;
mod reconcile;
mod send;

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
            polling: polls.then(|| Polling::new(&settings)),
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
                state.record_call(&myself, failed);
                state.account_send(failed, cost);
                state.arm_balance_recheck(&myself);
                state.report_health();
            }
            ProviderMsg::BalanceFetched(result) => {
                state.on_balance_fetched(result);
                state.arm_balance_recheck(&myself);
                state.report_health();
            }
            ProviderMsg::RefreshBalance => state.read_balance(&myself),
            ProviderMsg::RecheckBalance => state.recheck_balance(&myself),
            ProviderMsg::CooldownElapsed => state.cooldown_elapsed(),
            ProviderMsg::Health(reply) => {
                let _ = reply.send(state.health());
            }
            ProviderMsg::AwaitReceipt {
                message_id,
                provider_message_id,
                expires_at,
            } => state.await_receipt(&myself, message_id, provider_message_id, expires_at),
            ProviderMsg::Reconcile { request, since } => state.reconcile_at_start(request, since),
            ProviderMsg::PollDue => state.start_polls(&myself),
            ProviderMsg::Polled {
                message_id,
                done,
                last_of_round,
            } => state.polled(&myself, message_id, done, last_of_round),
            #[cfg(any(test, feature = "test-support"))]
            ProviderMsg::Crash => {
                return Err(format!("injected fault in provider {}", state.slug).into());
            }
        }
        Ok(())
    }
}

impl ProviderState {
    /// The breaker counts a finished send (a failure only when it is the provider's fault); an
    /// opened circuit is tried again after its cooldown.
    fn record_call(&mut self, myself: &ActorRef<ProviderMsg>, failed: Option<ProviderErrorKind>) {
        let counts = failed.is_some_and(|k| k.counts_against_provider());
        if let Some(change) = self.breaker.record(counts, Instant::now()) {
            self.metrics.circuit_state(&self.slug, change.gauge());
            if change == CircuitState::Open {
                tracing::warn!(provider = %self.slug, "circuit opened");
                myself.send_after(self.breaker.cooldown(), || ProviderMsg::CooldownElapsed);
            } else {
                tracing::info!(provider = %self.slug, state = change.as_str(), "circuit changed");
            }
        }
    }

    fn cooldown_elapsed(&mut self) {
        if let Some(change) = self.breaker.poll(Instant::now()) {
            self.metrics.circuit_state(&self.slug, change.gauge());
            tracing::info!(provider = %self.slug, "circuit half-open: one probe allowed");
            self.report_health();
        }
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
}
