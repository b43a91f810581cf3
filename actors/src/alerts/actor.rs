//! The Alerts actor: watches every stored change and the providers' health, evaluates the rules
//! on a tick, and tells people.
//!
//! - Accepts: `Observed` (each change from the updates bus, forwarded by a task it starts),
//!   `Tick` (its own interval), `Evaluate` (tests and admins: evaluate now and answer).
//! - Tells: the log (warn on firing and repeats, info on resolve, structured fields), the alert
//!   bus (the GraphQL `alerts` subscription), each configured `AlertSink` (the webhook), and the
//!   `AlertLog` (history), in that order per notice, from one task: a handler never awaits I/O.
//! - Time comes from the injected `Clock`, so tests move it without sleeping.
//! - On a crash: the supervisor restarts it; the firing alerts are rebuilt from the alert
//!   history (so nothing fires twice or stays unresolved), the windows refill from new changes.

use super::{
    lifecycle::Lifecycle, observe::Observations, rules, Alert, AlertQuery, AlertState, AlertsConfig,
};
use crate::{
    domain::Message,
    ports::{AlertLog, AlertSink, Clock},
    router::Directory,
    updates::UpdateBus,
};
use futures::{stream::BoxStream, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};

/// Notices waiting to be stored and told; far more than one tick makes.
const TELL_QUEUE: usize = 1_024;

/// How long the start waits for the alert history.
const RESTORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many past notices are read at start to find the alerts still firing.
const RESTORE_LIMIT: usize = 1_000;

/// The notices as they are made, for live subscribers. Bounded: a subscriber that falls behind
/// is ended and reads `alertHistory` instead.
#[derive(Clone)]
pub struct AlertBus {
    tx: broadcast::Sender<Arc<Alert>>,
}

impl AlertBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    pub fn publish(&self, alert: Arc<Alert>) {
        let _ = self.tx.send(alert);
    }

    /// Every notice from now on; ends when the subscriber lags behind or the engine stops.
    pub fn subscribe(&self) -> BoxStream<'static, Arc<Alert>> {
        let rx = self.tx.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(alert) => Some((alert, rx)),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "an alert subscriber lagged behind and was ended");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}

pub enum AlertsMsg {
    Observed(Arc<Message>),
    Tick,
    /// Evaluates now and answers with the notices made.
    Evaluate(RpcReplyPort<Vec<Alert>>),
    /// How many changes it has observed since it started, so tests move the clock only once
    /// what they sent has been counted.
    ObservedCount(RpcReplyPort<u64>),
    /// An injected fault, for supervision tests: the handler fails and the actor dies.
    #[cfg(any(test, feature = "test-support"))]
    Crash,
}

pub struct Alerts;

/// Everything the actor needs; kept by the supervisor to restart it.
#[derive(Clone)]
pub struct AlertsArgs {
    pub config: AlertsConfig,
    pub clock: Arc<dyn Clock>,
    pub log: Arc<dyn AlertLog>,
    pub sinks: Vec<Arc<dyn AlertSink>>,
    pub updates: UpdateBus,
    pub directory: watch::Receiver<Directory>,
    pub alerts: AlertBus,
}

pub struct AlertsState {
    args: AlertsArgs,
    seen: Observations,
    lifecycle: Lifecycle,
    observed: u64,
    /// The task that stores each notice, then hands it to the sinks and subscribers.
    teller: mpsc::Sender<Arc<Alert>>,
    /// How far back the rules look: older observations are dropped.
    keep: super::observe::Horizons,
}

impl Actor for Alerts {
    type Msg = AlertsMsg;
    type State = AlertsState;
    type Arguments = AlertsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AlertsArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Subscribe first, so no change between the start and the first tick is missed.
        let mut rx = args.updates.receiver();
        let me = myself.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(m) => {
                        if me.cast(AlertsMsg::Observed(m)).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(
                            skipped,
                            "the alerts actor fell behind the updates; some changes are not counted"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // Start-up read: nothing waits behind it yet. Without history, alerts start closed.
        // Bounded, so an unreachable store cannot hold up the supervisor that starts us.
        let query = AlertQuery {
            limit: RESTORE_LIMIT,
            ..AlertQuery::default()
        };
        let read = args.log.alert_history(&query);
        let history = match tokio::time::timeout(RESTORE_TIMEOUT, read).await {
            Ok(Ok(history)) => history,
            Ok(Err(err)) => {
                tracing::warn!(error.message = %err, "could not read the alert history; open alerts may fire again");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(
                    "the alert history did not answer in time; open alerts may fire again"
                );
                Vec::new()
            }
        };
        let lifecycle = Lifecycle::restore(&history);
        myself.send_interval(args.config.tick(), || AlertsMsg::Tick);
        let keep = args.config.horizons();
        let started_at = args.clock.now();
        tracing::info!(
            open = lifecycle.open_count(),
            tick_ms = args.config.tick_ms,
            "alerts started"
        );
        Ok(AlertsState {
            teller: spawn_teller(&args),
            args,
            seen: Observations::new(started_at),
            lifecycle,
            observed: 0,
            keep,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AlertsMsg::Observed(m) => {
                let now = state.args.clock.now();
                state.seen.observe(&m, now);
                state.observed += 1;
            }
            AlertsMsg::ObservedCount(reply) => {
                let _ = reply.send(state.observed);
            }
            #[cfg(any(test, feature = "test-support"))]
            AlertsMsg::Crash => return Err("injected fault in the alerts actor".into()),
            AlertsMsg::Tick => {
                state.evaluate();
            }
            AlertsMsg::Evaluate(reply) => {
                let notices = state.evaluate();
                let _ = reply.send(notices);
            }
        }
        Ok(())
    }
}

impl AlertsState {
    fn evaluate(&mut self) -> Vec<Alert> {
        let now = self.args.clock.now();
        let providers = self.args.directory.borrow().clone();
        self.seen.track_providers(&providers, now);
        self.seen.prune(now, self.keep);
        let conditions = rules::evaluate(&self.args.config, &self.seen, &providers, now);
        let notices = self
            .lifecycle
            .step(conditions, now, self.args.config.cooldown());
        if !notices.is_empty() {
            self.tell(&notices);
        }
        notices
    }

    fn tell(&self, notices: &[Alert]) {
        for alert in notices {
            match alert.state {
                AlertState::Firing => tracing::warn!(
                    alert.id = %alert.id,
                    alert.rule = alert.rule.as_str(),
                    alert.subject = %alert.subject,
                    alert.severity = alert.severity.as_str(),
                    alert.notice = alert.notice,
                    details = %alert.details,
                    "ALERT: {}", alert.message
                ),
                AlertState::Resolved => tracing::info!(
                    alert.id = %alert.id,
                    alert.rule = alert.rule.as_str(),
                    alert.subject = %alert.subject,
                    "ALERT {}", alert.message
                ),
            }
            if self.teller.try_send(Arc::new(alert.clone())).is_err() {
                tracing::error!(alert.id = %alert.id, "alert notices are backing up: this one is only logged");
            }
        }
    }
}

/// Stores each notice, then tells the sinks, then the subscribers, one notice after another
/// so their order holds: a subscriber (or `alertHistory` reader) who sees a notice can find it
/// stored. A store failure is logged and the notice is told anyway: a person must hear of it.
/// Ends when the actor (its sender) is gone.
fn spawn_teller(args: &AlertsArgs) -> mpsc::Sender<Arc<Alert>> {
    let (tx, mut rx) = mpsc::channel::<Arc<Alert>>(TELL_QUEUE);
    let log = args.log.clone();
    let sinks = args.sinks.clone();
    let bus = args.alerts.clone();
    tokio::spawn(async move {
        while let Some(alert) = rx.recv().await {
            if let Err(err) = log.record_alert(&alert).await {
                tracing::error!(alert.id = %alert.id, error.message = %err, "could not store an alert notice");
            }
            for sink in &sinks {
                sink.notify(alert.clone());
            }
            bus.publish(alert);
        }
    });
    tx
}
