//! Provider actor: status polling, for providers whose receipts do not come by webhook. Each
//! SENT message is checked after `status_poll_initial_ms`, then with a doubling interval up to
//! `status_poll_max_ms`, until a final status or the end of its validity; at most
//! `status_poll_batch` checks per round, one after another in a task, so the client's own rate
//! limit paces them. A final status goes to the Router as a `Report`, like a webhook.

use super::{send::error_label, ProviderState};
use crate::{
    domain::{MessageId, ProviderSettings},
    ports::{DeliveryReport, DeliveryStatus, ProviderError, ProviderErrorKind},
    protocol::{ProviderMsg, RouterMsg},
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use ractor::ActorRef;
use std::{collections::HashMap, panic::AssertUnwindSafe, time::Duration};
use tokio::time::Instant;

/// The SENT messages this provider polls, and when each is due.
pub(super) struct Polling {
    initial: Duration,
    max: Duration,
    batch: usize,
    waiting: HashMap<MessageId, PollEntry>,
    /// When the next `PollDue` is already set to fire, so timers are not piled up.
    armed_for: Option<Instant>,
    /// A round's task is running. Another round waits for it: without this, a backlog larger
    /// than a batch re-armed at once and ran every batch in parallel, bursting the provider.
    round_running: bool,
}

struct PollEntry {
    provider_message_id: String,
    expires_at: DateTime<Utc>,
    due: Instant,
    interval: Duration,
    /// A check is running: it is not started again until its outcome is back.
    in_flight: bool,
}

impl Polling {
    pub(super) fn new(settings: &ProviderSettings) -> Self {
        Self {
            initial: Duration::from_millis(settings.status_poll_initial_ms),
            max: Duration::from_millis(settings.status_poll_max_ms),
            batch: settings.status_poll_batch,
            waiting: HashMap::new(),
            armed_for: None,
            round_running: false,
        }
    }

    /// A message to check: its first check is due `initial` after `now`.
    fn watch(
        &mut self,
        message_id: MessageId,
        provider_message_id: String,
        expires_at: DateTime<Utc>,
        now: Instant,
    ) {
        self.waiting.insert(
            message_id,
            PollEntry {
                provider_message_id,
                expires_at,
                due: now + self.initial,
                interval: self.initial,
                in_flight: false,
            },
        );
    }

    /// A check's outcome is back (at `now`): a final status ends the message's checks;
    /// otherwise the next is due after twice the interval, at most `max`.
    fn checked(&mut self, message_id: &MessageId, done: bool, last_of_round: bool, now: Instant) {
        if last_of_round {
            self.round_running = false;
        }
        if done {
            self.waiting.remove(message_id);
        } else if let Some(entry) = self.waiting.get_mut(message_id) {
            entry.in_flight = false;
            entry.interval = (entry.interval * 2).min(self.max);
            entry.due = now + entry.interval;
        }
    }

    /// Forgets the messages whose validity is over (at `today`), then takes the checks due at
    /// `now` that are not running already, at most a batch, marked as running.
    fn take_due(&mut self, now: Instant, today: DateTime<Utc>) -> Vec<(MessageId, String)> {
        self.waiting.retain(|id, e| {
            let keep = e.expires_at > today;
            if !keep {
                tracing::debug!(message_id = %id, "validity over: no more status checks");
            }
            keep
        });
        self.waiting
            .iter_mut()
            .filter(|(_, e)| !e.in_flight && e.due <= now)
            .take(self.batch)
            .map(|(id, e)| {
                e.in_flight = true;
                (id.clone(), e.provider_message_id.clone())
            })
            .collect()
    }

    /// Sets a `PollDue` for the earliest waiting check, unless one fires before it already.
    fn arm(&mut self, myself: &ActorRef<ProviderMsg>) {
        let now = Instant::now();
        if self.armed_for.is_some_and(|at| at <= now) {
            self.armed_for = None;
        }
        let Some(next) = self
            .waiting
            .values()
            .filter(|e| !e.in_flight)
            .map(|e| e.due)
            .min()
        else {
            return;
        };
        if self.armed_for.is_some_and(|at| at <= next) {
            return;
        }
        self.armed_for = Some(next);
        myself.send_after(next.saturating_duration_since(now), || ProviderMsg::PollDue);
    }
}

impl ProviderState {
    /// A SENT message waits for its receipt through us: its first check is due after
    /// `initial`. Ignored when our receipts come by webhook.
    pub(super) fn await_receipt(
        &mut self,
        myself: &ActorRef<ProviderMsg>,
        message_id: MessageId,
        provider_message_id: String,
        expires_at: DateTime<Utc>,
    ) {
        if let Some(polling) = &mut self.polling {
            polling.watch(message_id, provider_message_id, expires_at, Instant::now());
            polling.arm(myself);
        }
    }

    /// A check's outcome: a final status ends the message's checks; otherwise the next is due
    /// after twice the interval (up to `max`).
    pub(super) fn polled(
        &mut self,
        myself: &ActorRef<ProviderMsg>,
        message_id: MessageId,
        done: bool,
        last_of_round: bool,
    ) {
        if let Some(polling) = &mut self.polling {
            polling.checked(&message_id, done, last_of_round, Instant::now());
            polling.arm(myself);
        }
    }

    /// Starts the due status checks (at most a batch) as one task; never awaits here.
    pub(super) fn start_polls(&mut self, myself: &ActorRef<ProviderMsg>) {
        let Some(polling) = &mut self.polling else {
            return;
        };
        polling.armed_for = None;
        if polling.round_running {
            // The round's last outcome arms the next `PollDue`.
            return;
        }
        let due = polling.take_due(Instant::now(), Utc::now());
        if due.is_empty() {
            polling.arm(myself);
            return;
        }
        polling.round_running = true;
        let client = self.client.clone();
        let router = self.router.clone();
        let me = myself.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        tokio::spawn(async move {
            let count = due.len();
            for (i, (message_id, provider_message_id)) in due.into_iter().enumerate() {
                let started = Instant::now();
                let result = AssertUnwindSafe(client.status(&provider_message_id))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ProviderErrorKind::Unavailable,
                            "the provider client failed unexpectedly",
                        ))
                    });
                metrics.provider_call(&slug, "status", started.elapsed(), error_label(&result));
                let done = match result {
                    Ok(report) if report.status != DeliveryStatus::Pending => {
                        let _ = router.cast(RouterMsg::Report(DeliveryReport {
                            provider: slug.clone(),
                            provider_message_id,
                            message_id: Some(message_id.clone()),
                            status: report.status,
                            at: report.at.unwrap_or_else(Utc::now),
                            error: report.error,
                        }));
                        true
                    }
                    Ok(_) => false,
                    Err(err) => {
                        // Checked again later, with the same backoff as a pending answer.
                        tracing::debug!(provider = %slug, message_id = %message_id, error.message = %err, "status check failed");
                        false
                    }
                };
                let _ = me.cast(ProviderMsg::Polled {
                    message_id,
                    done,
                    last_of_round: i + 1 == count,
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polling() -> Polling {
        Polling {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(30),
            batch: 2,
            waiting: HashMap::new(),
            armed_for: None,
            round_running: false,
        }
    }

    fn due_ids(polling: &mut Polling, now: Instant) -> Vec<String> {
        let mut due: Vec<String> = polling
            .take_due(now, Utc::now())
            .into_iter()
            .map(|(_, pid)| pid)
            .collect();
        due.sort();
        due
    }

    #[test]
    fn checks_back_off_doubling_up_to_max_until_a_final_status() {
        let mut p = polling();
        let start = Instant::now();
        let id = MessageId::generate();
        let valid = Utc::now() + chrono::Duration::hours(1);
        p.watch(id.clone(), "p1".into(), valid, start);
        assert!(due_ids(&mut p, start).is_empty(), "not before `initial`");
        let mut now = start + Duration::from_secs(10);
        assert_eq!(due_ids(&mut p, now), vec!["p1"]);
        assert!(
            due_ids(&mut p, now).is_empty(),
            "running: not started twice"
        );
        for wait in [20, 30, 30] {
            p.checked(&id, false, true, now);
            assert!(due_ids(&mut p, now + Duration::from_secs(wait - 1)).is_empty());
            now += Duration::from_secs(wait);
            assert_eq!(due_ids(&mut p, now), vec!["p1"], "after {wait}s");
        }
        p.checked(&id, true, true, now);
        assert!(p.waiting.is_empty());
    }

    #[test]
    fn a_round_takes_at_most_a_batch_and_drops_expired_messages() {
        let mut p = polling();
        let start = Instant::now();
        let valid = Utc::now() + chrono::Duration::hours(1);
        for pid in ["a", "b", "c"] {
            p.watch(MessageId::generate(), pid.into(), valid, start);
        }
        p.watch(MessageId::generate(), "old".into(), Utc::now(), start);
        let now = start + Duration::from_secs(10);
        assert_eq!(due_ids(&mut p, now).len(), 2);
        assert_eq!(due_ids(&mut p, now).len(), 1);
        assert_eq!(p.waiting.len(), 3, "the expired one is no longer checked");
    }
}
