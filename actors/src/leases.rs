//! The lease keeper: a task per engine that renews this instance's leases and takes over the
//! unfinished messages of instances that stopped renewing theirs.
//!
//! - Renews: every third of the lease time, one store write for all leases this instance holds,
//!   on its own: never behind a sweep. A renewal has a deadline of one renewal period; a claim
//!   has none here (the store bounds its round trips, see `Leases::claim_expired`).
//! - Sweeps: every half of the lease time (at most `MAX_SWEEP`), claims messages whose lease ran out (oldest first,
//!   in rounds of `CLAIM_ROUND`) and hands them to the Router as `Recover`, exactly like the
//!   start-up recovery: QUEUED/RETRYING are dispatched, SENT waits for its receipt, SENDING is
//!   failed as interrupted (the dead instance may have reached the provider).
//! - Never: holds a message the Router was not told of; a claim that the Router cannot take
//!   (it stopped) is left to run out again.
//! - Ends when the engine's supervisor stops (it aborts the task and releases the leases), so
//!   another instance takes a stopped engine's messages at its next sweep; a killed one's leases
//!   run out instead.

use crate::{ports::Store, router::RouterMsg};
use ractor::ActorRef;
use std::{sync::Arc, time::Duration};
use tokio::task::JoinHandle;

/// Most messages claimed in one round of a sweep; a sweep runs rounds until one comes back short.
const CLAIM_ROUND: usize = 50;

/// The shortest pause between two renewals, whatever the lease time.
const MIN_PERIOD: Duration = Duration::from_millis(50);

/// The longest pause between two sweeps: an instance that stopped gracefully released its
/// leases, and its messages should not wait half a lease time to be taken.
const MAX_SWEEP: Duration = Duration::from_secs(2);

pub(crate) fn spawn(store: Arc<dyn Store>, router: ActorRef<RouterMsg>) -> JoinHandle<()> {
    let ttl = store.holder().ttl;
    let renew_every = (ttl / 3).max(MIN_PERIOD);
    let sweep_every = (ttl / 2).clamp(MIN_PERIOD, MAX_SWEEP);
    // A renewal gets at most a renewal period: one that hangs (a server that never answers) is
    // given up and the next one starts, rather than waiting while this instance's lease runs out.
    let deadline = renew_every;
    tokio::spawn(async move {
        // The heartbeat and the sweeps are two futures of one task (so aborting the task ends
        // both) that never wait on each other: a slow or stuck claim cannot stop the renewals,
        // which would let a third instance take messages this one is still sending.
        let heartbeat = async {
            let mut renew = tokio::time::interval(renew_every);
            renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            renew.tick().await;
            loop {
                renew.tick().await;
                renew_once(store.as_ref(), deadline).await;
            }
        };
        let sweeps = async {
            let mut sweep = tokio::time::interval(sweep_every);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate: the start-up recovery has just claimed what was free.
            sweep.tick().await;
            loop {
                sweep.tick().await;
                if !take_over(store.as_ref(), &router).await {
                    return;
                }
            }
        };
        tokio::select! {
            () = heartbeat => {}
            () = sweeps => {}
        }
    })
}

async fn renew_once(store: &dyn Store, deadline: Duration) {
    match tokio::time::timeout(deadline, store.renew_leases()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::warn!(error.message = %err, "could not renew this instance's leases");
        }
        Err(_) => {
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "renewing this instance's leases took too long; retrying at the next renewal"
            );
        }
    }
}

/// Claims expired messages in rounds; false when the Router is gone.
async fn take_over(store: &dyn Store, router: &ActorRef<RouterMsg>) -> bool {
    loop {
        // No deadline here: dropping a claim half-way would lose what it already took (held by
        // this instance, known to no Router). The store bounds each of its round trips and hands
        // over later what a call whose answer was lost may have taken.
        let claimed = match store.claim_expired(CLAIM_ROUND).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error.message = %err, "could not claim expired leases");
                return true;
            }
        };
        let short = claimed.len() < CLAIM_ROUND;
        if !claimed.is_empty() {
            tracing::info!(
                messages = claimed.len(),
                instance = %store.holder().instance,
                "took over messages whose lease ran out"
            );
            if router.cast(RouterMsg::Recover(claimed)).is_err() {
                return false;
            }
        }
        if short {
            return true;
        }
    }
}
