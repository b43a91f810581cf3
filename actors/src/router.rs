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

use crate::{
    domain::{
        event::ErrorKind, Message, MessageError, MessageId, MessageStatus, MessageType,
        ProviderConfig, ProviderSettings,
    },
    logger::{Done, LoggerMsg},
    policy::{
        backoff::retry_delay,
        breaker::CircuitState,
        selection::{choose, order, Candidate},
    },
    ports::{
        DeliveryReport, DeliveryStatus, EngineMetrics, MessageWrite, ProviderError,
        ProviderErrorKind, SendReceipt, SendRequest, Store, WriteOutcome,
    },
    provider::{ProviderHealth, ProviderMsg, SendJob},
};
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

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// A provider as seen from outside: its configuration and its health right now.
#[derive(Debug, Clone)]
pub struct ProviderView {
    pub config: ProviderConfig,
    pub running: bool,
    pub health: ProviderHealth,
    pub in_flight: usize,
}

/// The providers known to the engine, for validating requests without asking an actor.
pub type Directory = Arc<Vec<ProviderView>>;

pub enum RouterMsg {
    Dispatch(Message),
    Recover(Vec<Message>),
    SendFinished {
        message_id: MessageId,
        provider: String,
        result: Result<SendReceipt, ProviderError>,
    },
    Retry(MessageId),
    Report(DeliveryReport),
    /// A receipt for a message the Router no longer held, after reading it from the store.
    ReportResolved(DeliveryReport, Option<Message>),
    ProviderUp {
        config: ProviderConfig,
        actor: ActorRef<ProviderMsg>,
    },
    ProviderDown {
        slug: String,
        /// Removed from the configuration, rather than crashed.
        removed: bool,
    },
    ProviderHealth {
        slug: String,
        health: ProviderHealth,
    },
    Tick,
    Providers(RpcReplyPort<Vec<ProviderView>>),
    /// Stop dispatching; reply once no provider call is in flight.
    Drain(RpcReplyPort<()>),
    /// The store refused a change of this message: another instance holds it now (or applied
    /// a receipt first). It is forgotten here and never sent by this instance again.
    LeaseLost(MessageId),
    /// Another instance stored a change of this message and it is final now (a receipt applied
    /// there): a copy held here is stale and is let go. Other changes (a takeover) are left to
    /// the store's fence: an old event must not make the Router drop a message it holds now.
    FinishedElsewhere(MessageId),
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
                if let Some(message) = message {
                    let borrowed =
                        !message.status.is_final() && !state.messages.contains_key(&message.id);
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

/// The request for one attempt of `m` (the provider's sender unless the message names one).
fn send_request(m: &Message, provider_sender: Option<String>) -> SendRequest {
    SendRequest {
        message_id: m.id.clone(),
        to: m.to.clone(),
        body: m.body.clone(),
        sender: m.sender.clone().or(provider_sender),
        encoding: m.encoding,
        segments: m.segments,
        message_type: m.message_type,
        // A validity other than the type's default was set for this message: the provider is
        // told what is left of it, so it does not deliver the message late either.
        validity: (m.expires_at - m.created_at != m.message_type.default_validity()).then(|| {
            (m.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }),
    }
}

impl RouterState {
    fn track(&mut self, message: Message) {
        if let Some(pid) = &message.provider_message_id {
            if let Some(provider) = &message.provider {
                self.by_provider_id
                    .insert((provider.clone(), pid.clone()), message.id.clone());
            }
        }
        self.messages.insert(
            message.id.clone(),
            Tracked {
                message,
                tried: Vec::new(),
            },
        );
    }

    fn enqueue(&mut self, message: Message) {
        let id = message.id.clone();
        let l = lane(message.message_type);
        self.track(message);
        self.lanes[l].push_back(id);
    }

    fn recover(&mut self, messages: Vec<Message>) {
        let mut counts = [0usize; 3];
        for message in messages {
            if self.messages.contains_key(&message.id) {
                continue;
            }
            match message.status {
                MessageStatus::Queued | MessageStatus::Retrying => {
                    counts[0] += 1;
                    self.enqueue(message);
                }
                MessageStatus::Sent => {
                    counts[1] += 1;
                    let id = message.id.clone();
                    self.track(message);
                    self.tell_provider_awaiting(&id);
                    self.await_receipt(id);
                }
                MessageStatus::Sending => {
                    // The call may have reached the provider before the stop: sending again could
                    // deliver it twice. Its provider looks it up when it can (found: SENT; not
                    // found: sent again); otherwise it is failed with a reason admins can see.
                    counts[2] += 1;
                    let id = message.id.clone();
                    self.track(message);
                    if self.reconcile(&id) {
                        continue;
                    }
                    self.change(
                        &id,
                        MessageStatus::Failed,
                        Some(MessageError {
                            kind: ErrorKind::Interrupted,
                            message: "the process stopped during the provider call; not resent, to avoid a duplicate".into(),
                        }),
                        None,
                    );
                }
                MessageStatus::Delivered
                | MessageStatus::Undelivered
                | MessageStatus::Failed
                | MessageStatus::Expired => {}
            }
        }
        tracing::info!(
            requeued = counts[0],
            awaiting_receipt = counts[1],
            interrupted = counts[2],
            "recovered unfinished messages"
        );
    }

    /// Asks the provider of a message caught in SENDING to settle it; its outcome comes back as
    /// a `SendFinished`. False when that provider is not running.
    fn reconcile(&mut self, id: &MessageId) -> bool {
        let Some(m) = self.messages.get(id).map(|t| &t.message) else {
            return false;
        };
        let Some(entry) = m.provider.as_ref().and_then(|p| self.providers.get_mut(p)) else {
            return false;
        };
        let Some(actor) = entry.actor.clone() else {
            return false;
        };
        let since = m
            .events
            .iter()
            .rev()
            .find(|e| e.status == MessageStatus::Sending)
            .map_or(m.created_at, |e| e.at)
            - chrono::Duration::seconds(60);
        let request = send_request(m, entry.config.sender_id.clone());
        if actor
            .cast(ProviderMsg::Reconcile { request, since })
            .is_err()
        {
            return false;
        }
        // Counted as a call in flight, so a drain waits for it and its outcome balances it.
        entry.outstanding += 1;
        true
    }

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

    /// A receipt that matches no message yet: the provider may have called back before its
    /// answer to our send arrived. Kept (bounded) until that answer names the message.
    fn hold_early_receipt(&mut self, report: DeliveryReport) {
        let key = (report.provider.clone(), report.provider_message_id.clone());
        // The answer may have arrived while the store was being searched.
        if let Some(id) = self.by_provider_id.get(&key).cloned() {
            self.apply_report(&id, &report);
            return;
        }
        tracing::debug!(provider = %key.0, provider_message_id = %key.1, "holding a receipt that matches no message yet");
        if self.early_receipts.insert(key.clone(), report).is_none() {
            self.early_order.push_back(key);
            if self.early_order.len() > MAX_EARLY_RECEIPTS {
                if let Some(oldest) = self.early_order.pop_front() {
                    if self.early_receipts.remove(&oldest).is_some() {
                        tracing::info!(provider = %oldest.0, provider_message_id = %oldest.1, "a receipt matched no message and was dropped");
                    }
                }
            }
        }
    }

    fn await_receipt(&mut self, id: MessageId) {
        self.awaiting_receipt.push_back(id);
        while self.awaiting_receipt.len() > MAX_AWAITING_RECEIPT {
            let Some(oldest) = self.awaiting_receipt.pop_front() else {
                break;
            };
            let still_waiting = self
                .messages
                .get(&oldest)
                .is_some_and(|t| t.message.status == MessageStatus::Sent);
            if still_waiting {
                if let Some(t) = self.messages.remove(&oldest) {
                    if let (Some(p), Some(pid)) =
                        (t.message.provider, t.message.provider_message_id)
                    {
                        self.by_provider_id.remove(&(p, pid));
                    }
                }
            }
        }
    }

    /// Tells the message's provider actor that it waits for a receipt, so a provider without
    /// webhooks can poll its status (the actor ignores it when its receipts come by webhook).
    fn tell_provider_awaiting(&self, id: &MessageId) {
        let Some(m) = self.messages.get(id).map(|t| &t.message) else {
            return;
        };
        let (Some(slug), Some(pid)) = (&m.provider, &m.provider_message_id) else {
            return;
        };
        if let Some(actor) = self.providers.get(slug).and_then(|e| e.actor.as_ref()) {
            let _ = actor.cast(ProviderMsg::AwaitReceipt {
                message_id: m.id.clone(),
                provider_message_id: pid.clone(),
                expires_at: m.expires_at,
            });
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

    fn candidates(&self) -> Vec<Candidate<'_>> {
        self.order
            .iter()
            .filter_map(|slug| self.providers.get(slug))
            .map(|e| Candidate {
                slug: &e.config.slug,
                is_default: e.config.is_default,
                priority: e.config.priority,
                available: e.is_available(),
            })
            .collect()
    }

    /// Hands waiting messages to providers, lane by lane, while providers have room.
    fn pump(&mut self, myself: &ActorRef<RouterMsg>) {
        if self.draining {
            return;
        }
        let now = Utc::now();
        for l in 0..self.lanes.len() {
            while let Some(id) = self.lanes[l].front().cloned() {
                let Some(tracked) = self.messages.get(&id) else {
                    self.lanes[l].pop_front();
                    continue;
                };
                if !matches!(
                    tracked.message.status,
                    MessageStatus::Queued | MessageStatus::Retrying
                ) {
                    self.lanes[l].pop_front();
                    continue;
                }
                if tracked.message.expires_at <= now {
                    self.lanes[l].pop_front();
                    self.expire(&id);
                    continue;
                }
                let chosen = choose(
                    &self.candidates(),
                    tracked.message.pinned_provider.as_deref(),
                    &tracked.tried,
                )
                .map(str::to_owned);
                let Some(slug) = chosen else {
                    // Nobody can take it now; it waits for a provider to recover, or expires.
                    break;
                };
                let Some(entry) = self.providers.get(&slug) else {
                    break;
                };
                if entry.outstanding >= entry.capacity() {
                    break;
                }
                self.lanes[l].pop_front();
                self.start_attempt(myself, &id, &slug);
            }
        }
        for t in MessageType::ALL {
            self.args.metrics.queue_depth(t, self.lanes[lane(t)].len());
        }
    }

    fn start_attempt(&mut self, myself: &ActorRef<RouterMsg>, id: &MessageId, slug: &str) {
        let Some(entry) = self.providers.get_mut(slug) else {
            return;
        };
        let Some(actor) = entry.actor.clone() else {
            return;
        };
        entry.outstanding += 1;
        self.args.metrics.in_flight(slug, entry.outstanding);
        let sender = entry.config.sender_id.clone();
        let Some(tracked) = self.messages.get_mut(id) else {
            return;
        };
        tracked.message.provider = Some(slug.to_owned());
        tracked.message.attempts += 1;
        let m = &tracked.message;
        let job = SendJob {
            message_id: m.id.clone(),
            request: send_request(m, sender),
        };
        let router = myself.clone();
        let provider = slug.to_owned();
        let done: Done = Box::new(move |result| {
            if !matches!(result, Ok(WriteOutcome::Applied)) {
                return;
            }
            let message_id = job.message_id.clone();
            if actor.cast(ProviderMsg::Send(job)).is_err() {
                let err =
                    ProviderError::new(ProviderErrorKind::Unavailable, "the provider stopped");
                let _ = router.cast(RouterMsg::SendFinished {
                    message_id,
                    provider,
                    result: Err(err),
                });
            }
        });
        self.change(id, MessageStatus::Sending, None, Some(done));
    }

    fn on_send_finished(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        id: MessageId,
        provider: String,
        result: Result<SendReceipt, ProviderError>,
    ) {
        if result.is_err() {
            if let Some(report) = self.before_answer.remove(&id) {
                // The provider's receipt shows it took the message although its answer failed
                // (a timeout after the request went out): that receipt is the outcome, and
                // sending the text again would deliver it twice.
                tracing::info!(message_id = %id, %provider, "send answer failed after its receipt arrived; the receipt stands");
                self.settle(&id, &report);
                return;
            }
        }
        let Some(tracked) = self.messages.get_mut(&id) else {
            tracing::debug!(message_id = %id, "an outcome for a message no longer tracked");
            return;
        };
        match result {
            Ok(receipt) => {
                let m = &mut tracked.message;
                m.provider_message_id = Some(receipt.provider_message_id.clone());
                m.cost = receipt.cost.or(m.cost);
                if let Some(segments) = receipt.segments {
                    m.segments = segments;
                }
                if m.status == MessageStatus::Sending {
                    let key = (provider, receipt.provider_message_id);
                    self.by_provider_id.insert(key.clone(), id.clone());
                    if self.change(&id, MessageStatus::Sent, None, None) {
                        let by_id = self.before_answer.remove(&id);
                        match self.early_receipts.remove(&key).or(by_id) {
                            // The receipt overtook the provider's answer: apply it now.
                            Some(report) => self.apply_report(&id, &report),
                            None => {
                                self.tell_provider_awaiting(&id);
                                self.await_receipt(id);
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracked.tried.push(provider.clone());
                let error = err.to_message_error();
                let m = &tracked.message;
                if err.kind.is_permanent_for_message() {
                    self.change(&id, MessageStatus::Failed, Some(error), None);
                    return;
                }
                if m.attempts >= self.args.config.max_attempts {
                    let error = MessageError {
                        kind: error.kind,
                        message: format!("{} (after {} attempts)", error.message, m.attempts),
                    };
                    self.change(&id, MessageStatus::Failed, Some(error), None);
                    return;
                }
                let pinned = m.pinned_provider.is_some();
                let attempts = m.attempts;
                let tried = tracked.tried.clone();
                let another = !pinned && {
                    let candidates = self.candidates();
                    choose(&candidates, None, &tried)
                        .is_some_and(|next| !tried.iter().any(|t| t == next))
                };
                let delay = if another {
                    Duration::ZERO
                } else {
                    retry_delay(
                        attempts,
                        self.args.config.retry_base,
                        self.args.config.retry_max,
                        err.retry_after,
                        &mut self.rng,
                    )
                };
                if self.change(&id, MessageStatus::Retrying, Some(error), None) {
                    tracing::debug!(message_id = %id, %provider, ?delay, "retrying");
                    if delay.is_zero() {
                        let _ = myself.cast(RouterMsg::Retry(id));
                    } else {
                        myself.send_after(delay, move || RouterMsg::Retry(id));
                    }
                }
            }
        }
    }

    fn on_report(&mut self, myself: &ActorRef<RouterMsg>, report: DeliveryReport) {
        let id = report
            .message_id
            .clone()
            .filter(|id| self.messages.contains_key(id))
            .or_else(|| {
                self.by_provider_id
                    .get(&(report.provider.clone(), report.provider_message_id.clone()))
                    .cloned()
            });
        if let Some(id) = id {
            self.apply_report(&id, &report);
            return;
        }
        if report
            .message_id
            .as_ref()
            .is_some_and(|id| self.recent_final.0.contains(id))
        {
            return;
        }
        let store = self.args.store.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let found = match &report.message_id {
                Some(id) => store.message(id).await,
                None => {
                    store
                        .message_by_provider_id(&report.provider, &report.provider_message_id)
                        .await
                }
            };
            match found {
                Ok(message) => {
                    let _ = me.cast(RouterMsg::ReportResolved(report, message));
                }
                Err(err) => {
                    tracing::warn!(error.message = %err, "could not look up a receipt's message")
                }
            }
        });
    }

    /// Applies a receipt, or holds it while the message is SENDING: applied then, it would
    /// skip SENT and the provider's answer (its message id, the cost) would find the message
    /// finished and be lost. The answer applies it after SENT (see `on_send_finished`).
    fn apply_report(&mut self, id: &MessageId, report: &DeliveryReport) {
        if report.status == DeliveryStatus::Pending {
            return;
        }
        let sending = self
            .messages
            .get(id)
            .is_some_and(|t| t.message.status == MessageStatus::Sending);
        if sending {
            tracing::debug!(message_id = %id, "holding a receipt that overtook the send's answer");
            self.before_answer.insert(id.clone(), report.clone());
            return;
        }
        self.settle(id, report);
    }

    /// Moves the message to the receipt's outcome.
    fn settle(&mut self, id: &MessageId, report: &DeliveryReport) {
        let next = match report.status {
            DeliveryStatus::Pending => return,
            DeliveryStatus::Delivered => MessageStatus::Delivered,
            DeliveryStatus::Undelivered | DeliveryStatus::Failed => MessageStatus::Undelivered,
        };
        let error = report.error.clone().or_else(|| {
            (next == MessageStatus::Undelivered).then(|| MessageError {
                kind: ErrorKind::Rejected,
                message: "the network reported the message undelivered".into(),
            })
        });
        self.change(id, next, error, None);
    }

    fn expire(&mut self, id: &MessageId) {
        let error = MessageError {
            kind: ErrorKind::Expired,
            message: "its validity ran out before a provider could take it".into(),
        };
        self.change(id, MessageStatus::Expired, Some(error), None);
    }

    fn expire_waiting(&mut self) {
        let now = Utc::now();
        let expired: Vec<MessageId> = self
            .lanes
            .iter()
            .flatten()
            .filter(|id| {
                self.messages
                    .get(*id)
                    .is_some_and(|t| t.message.expires_at <= now)
            })
            .cloned()
            .collect();
        for id in expired {
            self.expire(&id);
        }
    }

    fn providers_changed(&mut self) {
        let mut candidates: Vec<Candidate<'_>> = self
            .providers
            .values()
            .map(|e| Candidate {
                slug: &e.config.slug,
                is_default: e.config.is_default,
                priority: e.config.priority,
                available: true,
            })
            .collect();
        order(&mut candidates);
        self.order = candidates.iter().map(|c| c.slug.to_owned()).collect();
        self.publish_directory();
    }

    fn views(&self) -> Vec<ProviderView> {
        self.order
            .iter()
            .filter_map(|s| self.providers.get(s))
            .map(|e| ProviderView {
                config: e.config.clone(),
                running: e.actor.is_some(),
                health: e.health.clone(),
                in_flight: e.outstanding,
            })
            .collect()
    }

    fn publish_directory(&self) {
        self.args.directory.send_replace(Arc::new(self.views()));
    }

    fn answer_drain_waiters(&mut self) {
        if !self.draining || self.providers.values().any(|e| e.outstanding > 0) {
            return;
        }
        for waiter in self.drain_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }
}
