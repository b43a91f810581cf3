//! Stats actor: per provider, per day, per type counters, read for the engine handle (never
//! recomputed from the logs on a read).
//!
//! - The Logger adds each batch's figures in the batch's own store commit
//!   (`Store::commit_with_statistics`), so they survive a kill -9 exactly as the messages do.
//! - Accepts: `Record` (figures from elsewhere, buffered and written in periodic batches);
//!   `Flush` on its timer and at shutdown; `Query` from the engine handle.
//! - Never: awaits the store in a handler; flushes and reads run as tasks.
//! - A query first writes what is pending, then reads, and waits for any flush in flight, so an
//!   answer includes every change committed before it was asked.
//! - On a crash: restarted by the supervisor; `Record`ed deltas not yet flushed are lost (at most
//!   one flush interval's worth); the Logger's figures are not among them.

use crate::{
    domain::{stats::summarize, DailyStats, StatsDelta, StatsQuery},
    ports::{Store, StoreError},
};
use chrono::NaiveDate;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{collections::HashMap, sync::Arc, time::Duration};

type Key = (NaiveDate, String, crate::domain::MessageType);
type StatsReply = RpcReplyPort<Result<Vec<DailyStats>, StoreError>>;

pub enum StatsMsg {
    Record(Vec<StatsDelta>),
    Flush,
    Flushed(Result<(), (StoreError, Vec<StatsDelta>)>),
    Query(StatsQuery, StatsReply),
    /// Replies once every recorded delta is in the store.
    Drain(RpcReplyPort<()>),
}

pub struct Stats;

pub struct StatsArgs {
    pub store: Arc<dyn Store>,
    pub flush_interval: Duration,
}

pub struct StatsState {
    store: Arc<dyn Store>,
    pending: HashMap<Key, StatsDelta>,
    flushing: bool,
    waiting_queries: Vec<(StatsQuery, StatsReply)>,
    drain_waiters: Vec<RpcReplyPort<()>>,
}

impl Actor for Stats {
    type Msg = StatsMsg;
    type State = StatsState;
    type Arguments = StatsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StatsArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(args.flush_interval, || StatsMsg::Flush);
        Ok(StatsState {
            store: args.store,
            pending: HashMap::new(),
            flushing: false,
            waiting_queries: Vec::new(),
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
            StatsMsg::Record(deltas) => state.add(deltas),
            StatsMsg::Flush => state.start_flush(&myself),
            StatsMsg::Flushed(result) => {
                state.flushing = false;
                if let Err((err, deltas)) = result {
                    tracing::warn!(error.message = %err, "statistics flush failed; will retry");
                    state.add(deltas);
                }
                if !state.waiting_queries.is_empty() || !state.drain_waiters.is_empty() {
                    state.serve_waiting(&myself);
                }
            }
            StatsMsg::Query(query, reply) => {
                state.waiting_queries.push((query, reply));
                if !state.flushing {
                    state.serve_waiting(&myself);
                }
            }
            StatsMsg::Drain(reply) => {
                state.drain_waiters.push(reply);
                if !state.flushing {
                    state.serve_waiting(&myself);
                }
            }
        }
        Ok(())
    }
}

impl StatsState {
    fn add(&mut self, deltas: Vec<StatsDelta>) {
        for delta in deltas {
            let key = (delta.day, delta.provider.clone(), delta.message_type);
            self.pending
                .entry(key)
                .and_modify(|acc| acc.merge(&delta))
                .or_insert(delta);
        }
    }

    fn start_flush(&mut self, myself: &ActorRef<StatsMsg>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        self.flushing = true;
        let deltas: Vec<StatsDelta> = self.pending.drain().map(|(_, d)| d).collect();
        let store = self.store.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let result = match store.add_statistics(&deltas).await {
                Ok(()) => Ok(()),
                Err(err) => Err((err, deltas)),
            };
            let _ = me.cast(StatsMsg::Flushed(result));
        });
    }

    /// Waiters are answered once everything recorded before them is in the store.
    fn serve_waiting(&mut self, myself: &ActorRef<StatsMsg>) {
        if self.pending.is_empty() {
            self.answer_waiting();
        } else {
            self.start_flush(myself);
        }
    }

    /// Everything recorded so far is in the store: read for every waiting query.
    fn answer_waiting(&mut self) {
        for waiter in self.drain_waiters.drain(..) {
            let _ = waiter.send(());
        }
        for (query, reply) in self.waiting_queries.drain(..) {
            let store = self.store.clone();
            tokio::spawn(async move {
                let rows = store.statistics(&query).await.map(summarize);
                let _ = reply.send(rows);
            });
        }
    }
}
