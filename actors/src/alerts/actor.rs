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
//!   history (so nothing fires twice or stays unresolved), the volume baseline from the stored
//!   messages (read in a task, `Seeded`), and the short windows refill from new changes.

use super::{
    lifecycle::Lifecycle, observe::Observations, rules, Alert, AlertQuery, AlertState, AlertsConfig,
};
use crate::{
    domain::{Message, MessageFilter, PageRequest},
    ports::{AlertLog, AlertSink, Clock, Store},
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

/// Most messages read at start for the volume baseline; past it, the baseline covers fewer days
/// and is judged once enough have been observed.
const SEED_LIMIT: usize = 200_000;
const SEED_PAGE: usize = 1_000;

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
    /// How many changes it has observed since it started (stored messages read for the
    /// baseline included), so tests move the clock only once what they sent has been counted.
    ObservedCount(RpcReplyPort<u64>),
    /// Volume from before the start, read from the store for the baseline: (created at,
    /// country prefix) of each message, and the time from which the read is complete.
    Seeded {
        volume: Vec<(chrono::DateTime<chrono::Utc>, Option<String>)>,
        complete_from: chrono::DateTime<chrono::Utc>,
    },
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
    /// The messages, read once at start so the volume baseline does not begin empty.
    pub store: Arc<dyn Store>,
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
        if args.config.is_enabled(super::AlertRule::UnusualVolume) {
            seed_volume(&args, &myself, started_at);
        }
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
            AlertsMsg::Seeded {
                volume,
                complete_from,
            } => {
                tracing::info!(
                    messages = volume.len(),
                    from = %complete_from,
                    "alert volume baseline read from the store"
                );
                state.seen.seed(&volume, complete_from);
                state.observed += volume.len() as u64;
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
        for rule in super::AlertRule::ALL {
            let open = self.lifecycle.open_of(rule);
            for sink in &self.args.sinks {
                sink.firing(rule, open);
            }
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

/// Reads, in a task, the messages of the baseline days created before `started_at`, newest
/// first, at most `SEED_LIMIT`, and sends them back as `Seeded`.
fn seed_volume(
    args: &AlertsArgs,
    me: &ActorRef<AlertsMsg>,
    started_at: chrono::DateTime<chrono::Utc>,
) {
    let store = args.store.clone();
    let me = me.clone();
    let from = started_at
        - chrono::Duration::days(i64::from(args.config.baseline_days))
        - chrono::Duration::hours(1);
    let filter = MessageFilter {
        created_from: Some(from),
        created_to: Some(started_at),
        ..MessageFilter::default()
    };
    tokio::spawn(async move {
        let mut volume = Vec::new();
        let mut page = PageRequest {
            first: SEED_PAGE,
            after: None,
        };
        let complete_from = loop {
            let found = match store.messages(&filter, &page).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(error.message = %err, "could not read past volume; the baseline starts empty");
                    return;
                }
            };
            volume.extend(
                found
                    .items
                    .iter()
                    .map(|m| (m.created_at, super::observe::country_prefix(m.to.as_str()))),
            );
            match found.items.last() {
                Some(last) if found.has_next_page && volume.len() < SEED_LIMIT => {
                    page.after = Some(last.id.clone());
                }
                // Counted from the oldest message read: before it the store may have been
                // quiet, or smsgate not yet installed, and a made-up zero baseline would make
                // any busy hour look unusual. (A cut-short read is complete from there too.)
                _ => break volume.iter().map(|(at, _)| *at).min().unwrap_or(started_at),
            }
        };
        let _ = me.cast(AlertsMsg::Seeded {
            volume,
            complete_from,
        });
    });
}
