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
//!   (`LeaseLost`) makes the Router forget the message, and take it up again only if the store
//!   says this instance holds it again (it claimed it back before the refusal was answered).
//! - On a crash: the supervisor stops the engine as not ready (see supervisor.rs); a restart of the
//!   process recovers every unfinished message from the store.
//! - Parts: dispatch.rs (the hot path: taking messages in, handing them to providers, expiry),
//!   lanes.rs (the queues and what their heads may do), directory.rs (the providers), attempts.rs (one send and its answer),
//!   receipts.rs (delivery receipts, kept in receipt_book.rs), recovery.rs (messages found at
//!   start or taken over).

mod attempts;
mod directory;
mod dispatch;
mod lanes;
mod receipt_book;
mod receipts;
mod recovery;
#[cfg(test)]
mod test_message;

pub use crate::protocol::{Directory, ProviderView, RouterMsg};

use crate::{
    domain::{Message, MessageError, MessageId, MessageStatus},
    logger::{Done, LoggerMsg},
    ports::{EngineMetrics, MessageWrite, Store, WriteOutcome},
};
use chrono::Utc;
use directory::Entry;
use lanes::Lanes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::{rngs::StdRng, SeedableRng};
use receipt_book::ReceiptBook;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How often waiting messages are checked for expiry.
const TICK: Duration = Duration::from_secs(1);

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

pub struct RouterState {
    args: RouterArgs,
    /// To hear of changes the store refused (`LeaseLost`).
    myself: ActorRef<RouterMsg>,
    providers: HashMap<String, Entry>,
    /// Slugs in preference order (default first, then priority).
    order: Vec<String>,
    messages: HashMap<MessageId, Tracked>,
    /// Messages waiting for a provider, by type.
    lanes: Lanes,
    /// Which receipt waits for what, and which message waits for a receipt.
    book: ReceiptBook,
    rng: StdRng,
    draining: bool,
    drain_waiters: Vec<RpcReplyPort<()>>,
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
            lanes: Lanes::default(),
            book: ReceiptBook::default(),
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
                let _span =
                    tracing::info_span!("send_finished", message_id = %message_id, provider = %provider)
                        .entered();
                state.call_returned(&provider);
                state.on_send_finished(&myself, message_id, provider, result);
                state.pump(&myself);
                state.answer_drain_waiters();
            }
            RouterMsg::CallNotMade { provider } => {
                state.call_returned(&provider);
                state.pump(&myself);
                state.answer_drain_waiters();
            }
            RouterMsg::Retry(id) => {
                state.requeue(id);
                state.pump(&myself);
            }
            RouterMsg::Report(report) => state.on_report(&myself, report),
            RouterMsg::ReportResolved(report, message) => {
                state.on_report_resolved(report, message);
            }
            RouterMsg::ProviderUp { config, actor } => {
                state.provider_up(config, actor);
                state.pump(&myself);
            }
            RouterMsg::ProviderDown { slug, removed } => state.provider_down(&slug, removed),
            RouterMsg::ProviderHealth { slug, health } => {
                state.provider_health(&slug, health);
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
            RouterMsg::Drain(reply) => state.drain(reply),
            RouterMsg::FinishedElsewhere(id) => {
                if state.messages.contains_key(&id) {
                    tracing::debug!(message_id = %id, "changed by another instance; let go here");
                    state.forget(&id);
                }
            }
            RouterMsg::LeaseLost(id) => state.on_lease_lost(id),
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
        self.book.take_before_answer(id);
        if let Some(t) = self.messages.remove(id) {
            self.book.unindex(&t.message);
        }
    }

    fn finish(&mut self, id: &MessageId) {
        self.forget(id);
        self.book.remember_final(id);
    }
}
