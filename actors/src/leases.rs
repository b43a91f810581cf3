//! The lease keeper: a task per engine that renews this instance's leases and takes over the
//! unfinished messages of instances that stopped renewing theirs.
//!
//! - Renews: every third of the lease time, one store write for all leases this instance holds.
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
    tokio::spawn(async move {
        let mut renew = tokio::time::interval(renew_every);
        let mut sweep = tokio::time::interval(sweep_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first ticks are immediate: the start-up recovery has just claimed what was free.
        renew.tick().await;
        sweep.tick().await;
        loop {
            tokio::select! {
                _ = renew.tick() => {
                    if let Err(err) = store.renew_leases().await {
                        tracing::warn!(error.message = %err, "could not renew this instance's leases");
                    }
                }
                _ = sweep.tick() => {
                    if !take_over(store.as_ref(), &router).await {
                        return;
                    }
                }
            }
        }
    })
}

/// Claims expired messages in rounds; false when the Router is gone.
async fn take_over(store: &dyn Store, router: &ActorRef<RouterMsg>) -> bool {
    loop {
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
        // A long takeover must not let its first claims run out before the last.
        if let Err(err) = store.renew_leases().await {
            tracing::warn!(error.message = %err, "could not renew this instance's leases");
        }
    }
}
