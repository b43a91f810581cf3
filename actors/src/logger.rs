//! Logger actor: the only writer of messages and their events.
//!
//! - Owns: the write buffer and the one commit in flight.
//! - Accepts: `Write` from the engine handle (new messages) and the Router (status changes);
//!   `Committed` from its own commit task; `Flush` at shutdown.
//! - Never: awaits the store in a handler. A commit runs as a task; writes that arrive meanwhile
//!   wait in the buffer and go together in the next commit (group commit), so many concurrent
//!   sends share one fsync.
//! - Statistics: each batch's figures are added in the same store commit as the batch.
//! - Leases: a batch the store refuses with `LeaseLost` is committed again without the refused
//!   changes, whose `done` hears `WriteOutcome::LeaseLost`.
//! - After a commit: runs each write's `done` (which may call the provider, see the Router's
//!   `commit_sending_then`), then publishes each applied change on the update bus, in commit
//!   order, so a message's events reach subscribers in order.
//! - On a crash: the supervisor stops the engine (see supervisor.rs); unacknowledged writes are
//!   not lost for messages already stored, as recovery re-reads them.

use crate::{
    domain::{stats::event_delta, MessageStatus, StatsDelta},
    ports::{EngineMetrics, MessageWrite, Store, StoreError, WriteOutcome},
    updates::UpdateBus,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{sync::Arc, time::Duration};

/// Runs once the write is committed (or refused); it must not block.
pub type Done = Box<dyn FnOnce(Result<WriteOutcome, Arc<StoreError>>) + Send>;

pub enum LoggerMsg {
    Write {
        write: Box<MessageWrite>,
        done: Option<Done>,
    },
    Committed {
        writes: Vec<MessageWrite>,
        dones: Vec<Option<Done>>,
        result: Result<Vec<WriteOutcome>, StoreError>,
    },
    /// Replies once everything written before it is committed.
    Flush(RpcReplyPort<()>),
    /// Retry status changes that a failed commit left in the buffer.
    RetryCommit,
}

pub struct Logger;

pub struct LoggerArgs {
    pub store: Arc<dyn Store>,
    pub bus: UpdateBus,
    pub metrics: Arc<dyn EngineMetrics>,
    pub max_batch: usize,
}

pub struct LoggerState {
    args: LoggerArgs,
    buffer: Vec<(MessageWrite, Option<Done>)>,
    committing: bool,
    retry_scheduled: bool,
    flush_waiters: Vec<RpcReplyPort<()>>,
}

/// How long a failed commit waits before trying the buffered status changes again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

impl Actor for Logger {
    type Msg = LoggerMsg;
    type State = LoggerState;
    type Arguments = LoggerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: LoggerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(LoggerState {
            args,
            buffer: Vec::new(),
            committing: false,
            retry_scheduled: false,
            flush_waiters: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LoggerMsg::Write { write, done } => {
                state.buffer.push((*write, done));
                state.start_commit(&myself);
            }
            LoggerMsg::Committed {
                writes,
                dones,
                result,
            } => {
                state.committing = false;
                state.finish_commit(&myself, writes, dones, result);
                state.start_commit(&myself);
                if !state.committing && state.buffer.is_empty() {
                    for waiter in state.flush_waiters.drain(..) {
                        let _ = waiter.send(());
                    }
                }
            }
            LoggerMsg::Flush(reply) => {
                if !state.committing && state.buffer.is_empty() {
                    let _ = reply.send(());
                } else {
                    state.flush_waiters.push(reply);
                }
            }
            LoggerMsg::RetryCommit => {
                state.retry_scheduled = false;
                state.start_commit(&myself);
            }
        }
        Ok(())
    }
}

impl LoggerState {
    fn start_commit(&mut self, myself: &ActorRef<LoggerMsg>) {
        if self.committing || self.buffer.is_empty() || self.retry_scheduled {
            return;
        }
        let take = self.buffer.len().min(self.args.max_batch.max(1));
        let (writes, dones): (Vec<_>, Vec<_>) = self.buffer.drain(..take).unzip();
        self.committing = true;
        let store = self.args.store.clone();
        let me = myself.clone();
        let stats = batch_statistics(&writes);
        tokio::spawn(async move {
            let result = store.commit_with_statistics(&writes, &stats).await;
            let committed = LoggerMsg::Committed {
                writes,
                dones,
                result,
            };
            if me.cast(committed).is_err() {
                tracing::error!("the logger stopped while a commit was in flight");
            }
        });
    }

    fn finish_commit(
        &mut self,
        myself: &ActorRef<LoggerMsg>,
        writes: Vec<MessageWrite>,
        dones: Vec<Option<Done>>,
        result: Result<Vec<WriteOutcome>, StoreError>,
    ) {
        let batch = writes.into_iter().zip(dones);
        match result {
            Ok(outcomes) => {
                let mut applied = Vec::new();
                for ((write, done), outcome) in batch.into_iter().zip(outcomes) {
                    if outcome == WriteOutcome::Applied {
                        let message = write.message();
                        tracing::debug!(message_id = %message.id, status = message.status.as_str(), provider = message.provider.as_deref(), "status committed");
                        self.args.metrics.message_status(
                            message.provider.as_deref(),
                            message.message_type,
                            message.status,
                        );
                        if let (MessageWrite::Update { event, .. }, Some(provider), Some(took)) =
                            (&write, message.provider.as_deref(), message.delivery_time())
                        {
                            if event.status == MessageStatus::Delivered {
                                self.args.metrics.delivery_time(
                                    provider,
                                    message.message_type,
                                    took.to_std().unwrap_or_default(),
                                );
                            }
                        }
                        applied.push(message.clone());
                    }
                    if let Some(done) = done {
                        done(Ok(outcome));
                    }
                }
                for message in applied {
                    self.args.bus.publish(message);
                }
            }
            Err(StoreError::LeaseLost(lost)) => {
                // Another instance holds these messages now: their changes are dropped (the
                // Router forgets them on `LeaseLost`), and the rest of the batch, of which
                // nothing was kept, goes again at once.
                tracing::warn!(
                    messages = lost.len(),
                    "status changes refused: the lease on their messages was lost"
                );
                let lost: std::collections::HashSet<_> = lost.into_iter().collect();
                let mut keep = Vec::new();
                let mut refused = 0;
                for (write, done) in batch {
                    if matches!(write, MessageWrite::Update { .. })
                        && lost.contains(&write.message().id)
                    {
                        refused += 1;
                        if let Some(done) = done {
                            done(Ok(WriteOutcome::LeaseLost));
                        }
                    } else {
                        keep.push((write, done));
                    }
                }
                keep.append(&mut self.buffer);
                self.buffer = keep;
                if refused == 0 {
                    // The store named no write of this batch: do not spin on it.
                    self.retry_scheduled = true;
                    myself.send_after(RETRY_AFTER_FAILURE, || LoggerMsg::RetryCommit);
                }
            }
            Err(err) => {
                tracing::error!(error.message = %err, error.cause_chain = ?err, "a commit failed");
                let err = Arc::new(err);
                let mut keep = Vec::new();
                for (write, done) in batch {
                    match write {
                        // A new message that is not stored is not accepted: the caller hears so.
                        MessageWrite::Insert(_) => {
                            if let Some(done) = done {
                                done(Err(err.clone()));
                            }
                        }
                        // A status change already happened at the provider: keep it until the
                        // store takes it.
                        update @ MessageWrite::Update { .. } => keep.push((update, done)),
                    }
                }
                if !keep.is_empty() {
                    keep.append(&mut self.buffer);
                    self.buffer = keep;
                    self.retry_scheduled = true;
                    myself.send_after(RETRY_AFTER_FAILURE, || LoggerMsg::RetryCommit);
                }
            }
        }
    }
}

/// The figures a batch adds, one delta per hour, provider and type. They are committed with the
/// batch (not written separately afterwards) so a kill -9 cannot keep a status change and lose what
/// it adds to the statistics; the crash test (tests/crash.rs) found exactly that.
fn batch_statistics(writes: &[MessageWrite]) -> Vec<StatsDelta> {
    let mut merged: Vec<StatsDelta> = Vec::new();
    for delta in writes.iter().filter_map(stats_delta) {
        match merged.iter_mut().find(|d| d.same_row(&delta)) {
            Some(acc) => acc.merge(&delta),
            None => merged.push(delta),
        }
    }
    merged
}

/// What a committed change adds to the statistics: `stats::event_delta` of its event.
fn stats_delta(write: &MessageWrite) -> Option<StatsDelta> {
    let MessageWrite::Update { message, event } = write else {
        return None;
    };
    event_delta(message, event)
}
