//! Stats actor: answers statistics queries from the stored per provider, per hour, per type
//! rows (never recomputed from the logs on a read).
//!
//! - The Logger adds each batch's figures in the batch's own store commit
//!   (`Store::commit_with_statistics`), so they survive a kill -9 exactly as the messages do, and
//!   a query sees every change committed before it was asked. There is nothing to buffer here.
//! - Accepts: `Query` from the engine handle.
//! - Never: awaits the store in a handler; each read runs as a task, so one slow range does not
//!   hold up the next query.
//! - On a crash: restarted by the supervisor; it keeps no state.

use crate::{
    domain::{stats::summarize, DailyStats, StatsQuery},
    ports::{Store, StoreError},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;

type StatsReply = RpcReplyPort<Result<Vec<DailyStats>, StoreError>>;

pub enum StatsMsg {
    Query(StatsQuery, StatsReply),
}

pub struct Stats;

pub struct StatsArgs {
    pub store: Arc<dyn Store>,
}

pub struct StatsState {
    store: Arc<dyn Store>,
}

impl Actor for Stats {
    type Msg = StatsMsg;
    type State = StatsState;
    type Arguments = StatsArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: StatsArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(StatsState { store: args.store })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StatsMsg::Query(query, reply) => {
                let store = state.store.clone();
                tokio::spawn(async move {
                    let rows = store
                        .statistics(&query)
                        .await
                        .map(|rows| summarize(rows, &query));
                    let _ = reply.send(rows);
                });
            }
        }
        Ok(())
    }
}
