//! Router actor: owns every message between acceptance and a final state; picks a provider for
//! each, fails over, schedules retries, expires what waited too long, and applies receipts.
//!
//! - Accepts: `Dispatch` (a message just stored as QUEUED), `Recover` (unfinished messages at
//!   start), `SendFinished` from provider tasks, `Report` (delivery receipts), provider
//!   up/down/health notices from the supervisor and provider actors, `Retry`/`Tick` timers.
//! - Never: awaits I/O in a handler. Each status change goes to the Logger; a provider is asked
//!   to send only after SENDING is committed, so a message is never sent without a record of it.
//! - Lanes: OTP before transactional before marketing; a provider at its concurrency limit makes
//!   its lane wait rather than spill messages onto a costlier provider.
//! - Leases: a change the store refuses because another instance holds the message now
//!   (`LeaseLost`) makes the Router forget the message; it never sends it again.
//! - On a crash: the supervisor stops the engine as not ready (see supervisor.rs); a restart of the
//!   process recovers every unfinished message from the store.
//! - Parts: lanes.rs (what goes to which provider next), attempts.rs (one send and its answer),
//!   receipts.rs (delivery receipts), recovery.rs (taking messages in, settling, expiry).

mod attempts;
mod lanes;
mod receipts;
mod recovery;

use crate::{
    domain::{
        Message, MessageError, MessageId, MessageStatus, MessageType, ProviderConfig,
        ProviderSettings,
    },
    logger::{Done, LoggerMsg},
    policy::breaker::CircuitState,
    ports::{DeliveryReport, EngineMetrics, MessageWrite, Store, WriteOutcome},
    protocol::{ProviderHealth, ProviderMsg},
};

pub use crate::protocol::{Directory, ProviderView, RouterMsg};
use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::{rngs::StdRng, SeedableRng};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};
use tokio::sync::watch;

/// How often waiting messages are checked for expiry.
const TICK: Duration = Duration::from_secs(1);
/// Ids of messages that recently reached a final state, so a late duplicate receipt is ignored
/// without a store read.
const RECENT_FINAL: usize = 16_384;
/// SENT messages kept in memory while they wait for a receipt. Past this the oldest are let go:
/// they stay in the store, and a late receipt finds them there.
const MAX_AWAITING_RECEIPT: usize = 20_000;
/// Receipts held until the send they belong to is answered; past this the oldest are dropped.
const MAX_EARLY_RECEIPTS: usize = 10_000;
/// How many receipts are kept to be looked up again, and for how long each.
const MAX_RECEIPT_RETRIES: usize = 1_000;
const RECEIPT_RETRY_FOR: Duration = Duration::from_secs(60);
/// How many of them are looked up in the store per tick, at most (the oldest look-ups first):
/// the store work kept receipts cost is bounded overall, whoever sends them.
const RETRY_LOOKUPS_PER_TICK: usize = 50;

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

pub struct Router;

pub struct RouterArgs {
    pub logger: ActorRef<LoggerMsg>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<dyn EngineMetrics>,
    pub config: RouterConfig,
    pub directory: watch::Sender<Directory>,
}

struct Tracked {
    message: Message,
    /// Providers this message failed on, so a retry prefers another.
    tried: Vec<String>,
}

struct Entry {
    config: ProviderConfig,
    max_concurrency: usize,
    actor: Option<ActorRef<ProviderMsg>>,
    health: ProviderHealth,
    outstanding: usize,
}

impl Entry {
    fn capacity(&self) -> usize {
        match self.health.circuit {
            CircuitState::HalfOpen => 1,
            CircuitState::Closed | CircuitState::Open => self.max_concurrency,
        }
    }

    fn is_available(&self) -> bool {
        self.actor.is_some() && self.config.is_active && self.health.can_take_messages()
    }
}

pub struct RouterState {
    args: RouterArgs,
    /// To hear of changes the store refused (`LeaseLost`).
    myself: ActorRef<RouterMsg>,
    providers: HashMap<String, Entry>,
    /// Slugs in preference order (default first, then priority).
    order: Vec<String>,
    messages: HashMap<MessageId, Tracked>,
    lanes: [VecDeque<MessageId>; 3],
    by_provider_id: HashMap<(String, String), MessageId>,
    recent_final: (HashSet<MessageId>, VecDeque<MessageId>),
    /// Messages in the order they became SENT (some may have finished since).
    awaiting_receipt: VecDeque<MessageId>,
    /// Receipts that arrived before the send's answer named their message.
    early_receipts: HashMap<(String, String), DeliveryReport>,
    early_order: VecDeque<(String, String)>,
    /// Receipts for messages still SENDING here: the provider's answer (its id and the cost)
    /// is still on the way. One per message at most, dropped with the message.
    before_answer: HashMap<MessageId, DeliveryReport>,
    /// Receipts no message here or in the store could take yet (another instance may still be
    /// waiting for its send's answer), with when each first came and when it was last looked
    /// up: looked up again on the next ticks, within a budget (tokio's clock, so tests can
    /// pause it).
    receipt_retries:
        HashMap<(String, String), (tokio::time::Instant, tokio::time::Instant, DeliveryReport)>,
    rng: StdRng,
    draining: bool,
    drain_waiters: Vec<RpcReplyPort<()>>,
}

fn lane(t: MessageType) -> usize {
    match t {
        MessageType::Otp => 0,
        MessageType::Transactional => 1,
        MessageType::Marketing => 2,
    }
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(TICK, || RouterMsg::Tick);
        Ok(RouterState {
            args,
            myself: myself.clone(),
            providers: HashMap::new(),
            order: Vec::new(),
            messages: HashMap::new(),
            lanes: Default::default(),
            by_provider_id: HashMap::new(),
            recent_final: Default::default(),
            awaiting_receipt: VecDeque::new(),
            early_receipts: HashMap::new(),
            early_order: VecDeque::new(),
            before_answer: HashMap::new(),
            receipt_retries: HashMap::new(),
            rng: StdRng::from_entropy(),
            draining: false,
            drain_waiters: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Dispatch(message) => {
                state.enqueue(message);
                state.pump(&myself);
            }
            RouterMsg::Recover(messages) => {
                state.recover(messages);
                state.pump(&myself);
            }
            RouterMsg::SendFinished {
                message_id,
                provider,
                result,
            } => {
                if let Some(entry) = state.providers.get_mut(&provider) {
                    entry.outstanding = entry.outstanding.saturating_sub(1);
                    state.args.metrics.in_flight(&provider, entry.outstanding);
                }
                state.on_send_finished(&myself, message_id, provider, result);
                state.pump(&myself);
                state.answer_drain_waiters();
            }
            RouterMsg::Retry(id) => {
                if let Some(t) = state.messages.get(&id) {
                    if t.message.status == MessageStatus::Retrying {
                        let l = lane(t.message.message_type);
                        state.lanes[l].push_back(id);
                    }
                }
                state.pump(&myself);
            }
            RouterMsg::Report(report) => state.on_report(&myself, report),
            RouterMsg::ReportResolved(report, message) => {
                // Named by our id, the stored message may be another provider's: then the
                // receipt matches nothing here (yet), like an unknown id.
                let message = message.filter(|m| receipts::sent_by(m, &report.provider));
                if let Some(message) = message {
                    let borrowed =
                        !message.status.is_final() && !state.messages.contains_key(&message.id);
                    if borrowed && message.status == MessageStatus::Sending {
                        // Its holder (another instance) still waits for the send's answer:
                        // applied now, the receipt would skip SENT. Looked up again later.
                        state.retry_receipt(report);
                        return Ok(());
                    }
                    state.receipt_retried(&report);
                    if borrowed {
                        state.track(message.clone());
                    }
                    state.apply_report(&message.id, &report);
                    // Held only to apply this receipt (its lease may be another instance's):
                    // not kept when the receipt did not finish it.
                    if borrowed {
                        state.forget(&message.id);
                    }
                } else {
                    state.retry_receipt(report.clone());
                    state.hold_early_receipt(report);
                }
            }
            RouterMsg::ProviderUp { config, actor } => {
                let settings = ProviderSettings::from_json(&config.settings);
                let slug = config.slug.clone();
                let slug_of_up = slug.clone();
                let outstanding = state.providers.get(&slug).map_or(0, |e| e.outstanding);
                state.providers.insert(
                    slug,
                    Entry {
                        config,
                        max_concurrency: settings.max_concurrency,
                        actor: Some(actor),
                        health: ProviderHealth::fresh(),
                        outstanding,
                    },
                );
                state.providers_changed();
                // A (re)started provider actor starts with no polls: hand it the messages that
                // still wait for a receipt through it, so polling survives its restart.
                let waiting: Vec<MessageId> = state
                    .messages
                    .values()
                    .filter(|t| {
                        t.message.status == MessageStatus::Sent
                            && t.message.provider.as_deref() == Some(slug_of_up.as_str())
                    })
                    .map(|t| t.message.id.clone())
                    .collect();
                for id in waiting {
                    state.tell_provider_awaiting(&id);
                }
                state.pump(&myself);
            }
            RouterMsg::ProviderDown { slug, removed } => {
                if removed {
                    state.providers.remove(&slug);
                } else if let Some(entry) = state.providers.get_mut(&slug) {
                    entry.actor = None;
                }
                state.providers_changed();
            }
            RouterMsg::ProviderHealth { slug, health } => {
                if let Some(entry) = state.providers.get_mut(&slug) {
                    entry.health = health;
                }
                state.publish_directory();
                state.pump(&myself);
            }
            RouterMsg::Tick => {
                state.retry_receipts(&myself);
                state.expire_waiting();
                state.pump(&myself);
            }
            RouterMsg::Providers(reply) => {
                let _ = reply.send(state.views());
            }
            RouterMsg::Drain(reply) => {
                state.draining = true;
                state.drain_waiters.push(reply);
                state.answer_drain_waiters();
            }
            RouterMsg::FinishedElsewhere(id) => {
                if state.messages.contains_key(&id) {
                    tracing::debug!(message_id = %id, "changed by another instance; let go here");
                    state.forget(&id);
                }
            }
            RouterMsg::LeaseLost(id) => {
                tracing::info!(message_id = %id, "message held by another instance now; forgotten here");
                state.forget(&id);
            }
        }
        Ok(())
    }
}

impl RouterState {
    /// Applies a status change and writes it; `done` runs once it is committed.
    fn change(
        &mut self,
        id: &MessageId,
        next: MessageStatus,
        error: Option<MessageError>,
        done: Option<Done>,
    ) -> bool {
        let Some(tracked) = self.messages.get_mut(id) else {
            return false;
        };
        let event = match tracked.message.transition(next, Utc::now(), error) {
            Ok(event) => event.clone(),
            Err(illegal) => {
                tracing::debug!(message_id = %id, %illegal, "status change refused");
                return false;
            }
        };
        // The snapshot carries the whole history: the store appends only `event`, while
        // subscribers get every event so far.
        let write = MessageWrite::Update {
            message: Arc::new(tracked.message.clone()),
            event,
        };
        if next.is_final() {
            self.finish(id);
        }
        self.write(write, done);
        true
    }

    fn write(&self, write: MessageWrite, done: Option<Done>) {
        let me = self.myself.clone();
        let id = write.message().id.clone();
        let done: Done = Box::new(move |result| {
            if matches!(result, Ok(WriteOutcome::LeaseLost)) {
                let _ = me.cast(RouterMsg::LeaseLost(id));
            }
            if let Some(done) = done {
                done(result);
            }
        });
        let done = Some(done);
        if self
            .args
            .logger
            .cast(LoggerMsg::Write {
                write: Box::new(write),
                done,
            })
            .is_err()
        {
            tracing::error!("the logger is not running: a status change was not stored");
        }
    }

    /// Drops a message from memory without recording it as finished.
    fn forget(&mut self, id: &MessageId) {
        self.before_answer.remove(id);
        if let Some(t) = self.messages.remove(id) {
            if let (Some(p), Some(pid)) = (t.message.provider, t.message.provider_message_id) {
                self.by_provider_id.remove(&(p, pid));
            }
        }
    }

    fn finish(&mut self, id: &MessageId) {
        self.before_answer.remove(id);
        if let Some(t) = self.messages.remove(id) {
            if let (Some(p), Some(pid)) = (t.message.provider, t.message.provider_message_id) {
                self.by_provider_id.remove(&(p, pid));
            }
        }
        let (set, queue) = &mut self.recent_final;
        if set.insert(id.clone()) {
            queue.push_back(id.clone());
            if queue.len() > RECENT_FINAL {
                if let Some(old) = queue.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }
}
