//! Router: the receipt book: which receipt waits for what, and which message waits for a
//! receipt. Plain data with no actor, bounded everywhere, so a flood of receipts (forged ones
//! included) costs a fixed amount of memory and store work.
//!
//! Invariants:
//! - `index`: (provider, provider's id) → message, for messages held in memory that have a
//!   provider id; an entry leaves with its message (`unindex`).
//! - `recent_final`: the last `Bounds::recent_final` messages that reached a final state here,
//!   so a late duplicate receipt is ignored without a store read. Oldest forgotten first.
//! - `awaiting`: SENT messages in the order they became SENT (some may have finished since);
//!   past `Bounds::awaiting` the oldest are handed back to be let go (they stay in the store,
//!   where a late receipt finds them).
//! - `early`: receipts that arrived before the send's answer named their message, one per
//!   (provider, provider id), the latest kept; past `Bounds::early` the oldest is dropped.
//! - `before_answer`: receipts for messages still SENDING (the answer, with its id and cost, is
//!   on the way); one per message at most, dropped with the message.
//! - `retries`: receipts no message here or in the store could take yet (another instance may
//!   still wait for its send's answer), at most `Bounds::retries`, each kept `Bounds::retry_for`
//!   after it first came; at most `Bounds::lookups_per_tick` are looked up again per tick, those
//!   looked up longest ago first.

use crate::{
    domain::{Message, MessageId},
    ports::DeliveryReport,
};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::Duration,
};
use tokio::time::Instant;

/// A receipt's address: the provider's slug and the provider's own id for the message.
pub(super) type ProviderKey = (String, String);

pub(super) fn key_of(report: &DeliveryReport) -> ProviderKey {
    (report.provider.clone(), report.provider_message_id.clone())
}

/// How much the book holds at most.
#[derive(Debug, Clone)]
pub(super) struct Bounds {
    pub recent_final: usize,
    pub awaiting: usize,
    pub early: usize,
    pub retries: usize,
    pub retry_for: Duration,
    pub lookups_per_tick: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            recent_final: 16_384,
            awaiting: 20_000,
            early: 10_000,
            retries: 1_000,
            retry_for: Duration::from_secs(60),
            // The store work kept receipts cost is bounded overall, whoever sends them.
            lookups_per_tick: 50,
        }
    }
}

/// A receipt kept to be looked up again: when it first came, when it was last looked up.
struct Retry {
    since: Instant,
    tried: Instant,
    report: DeliveryReport,
}

#[derive(Default)]
pub(super) struct ReceiptBook {
    bounds: Bounds,
    index: HashMap<ProviderKey, MessageId>,
    recent_final: HashSet<MessageId>,
    recent_order: VecDeque<MessageId>,
    awaiting: VecDeque<MessageId>,
    early: HashMap<ProviderKey, DeliveryReport>,
    early_order: VecDeque<ProviderKey>,
    before_answer: HashMap<MessageId, DeliveryReport>,
    retries: HashMap<ProviderKey, Retry>,
}

impl ReceiptBook {
    #[cfg(test)]
    fn with_bounds(bounds: Bounds) -> Self {
        Self {
            bounds,
            ..Self::default()
        }
    }

    pub(super) fn index(&mut self, key: ProviderKey, id: MessageId) {
        self.index.insert(key, id);
    }

    /// Indexes a message taken into memory, when it already has a provider id.
    pub(super) fn index_message(&mut self, message: &Message) {
        if let (Some(provider), Some(pid)) = (&message.provider, &message.provider_message_id) {
            self.index((provider.clone(), pid.clone()), message.id.clone());
        }
    }

    /// A message leaves memory: its provider id no longer finds it here.
    pub(super) fn unindex(&mut self, message: &Message) {
        if let (Some(provider), Some(pid)) = (&message.provider, &message.provider_message_id) {
            self.index.remove(&(provider.clone(), pid.clone()));
        }
    }

    pub(super) fn message_for(&self, key: &ProviderKey) -> Option<&MessageId> {
        self.index.get(key)
    }

    pub(super) fn remember_final(&mut self, id: &MessageId) {
        if self.recent_final.insert(id.clone()) {
            self.recent_order.push_back(id.clone());
            if self.recent_order.len() > self.bounds.recent_final {
                if let Some(old) = self.recent_order.pop_front() {
                    self.recent_final.remove(&old);
                }
            }
        }
    }

    pub(super) fn finished_recently(&self, id: &MessageId) -> bool {
        self.recent_final.contains(id)
    }

    /// Notes a message that became SENT; returns the oldest ones past the bound, for the caller
    /// to let go if they still wait.
    pub(super) fn await_receipt(&mut self, id: MessageId) -> Vec<MessageId> {
        self.awaiting.push_back(id);
        let over = self.awaiting.len().saturating_sub(self.bounds.awaiting);
        self.awaiting.drain(..over).collect()
    }

    /// Holds a receipt that matches no message yet (bounded; the oldest goes first).
    pub(super) fn hold_early(&mut self, report: DeliveryReport) {
        let key = key_of(&report);
        tracing::debug!(provider = %key.0, provider_message_id = %key.1, "holding a receipt that matches no message yet");
        if self.early.insert(key.clone(), report).is_none() {
            self.early_order.push_back(key);
            if self.early_order.len() > self.bounds.early {
                if let Some(oldest) = self.early_order.pop_front() {
                    if self.early.remove(&oldest).is_some() {
                        tracing::info!(provider = %oldest.0, provider_message_id = %oldest.1, "a receipt matched no message and was dropped");
                    }
                }
            }
        }
    }

    pub(super) fn take_early(&mut self, key: &ProviderKey) -> Option<DeliveryReport> {
        self.early.remove(key)
    }

    /// Holds a receipt for a message still SENDING (the latest one wins).
    pub(super) fn hold_before_answer(&mut self, id: MessageId, report: DeliveryReport) {
        self.before_answer.insert(id, report);
    }

    pub(super) fn take_before_answer(&mut self, id: &MessageId) -> Option<DeliveryReport> {
        self.before_answer.remove(id)
    }

    /// Keeps a receipt to look up again on the next ticks (bounded in number; the first copy of
    /// a receipt is kept, with its arrival time).
    pub(super) fn retry_later(&mut self, report: DeliveryReport, now: Instant) {
        let key = key_of(&report);
        if self.retries.len() < self.bounds.retries || self.retries.contains_key(&key) {
            self.retries.entry(key).or_insert(Retry {
                since: now,
                tried: now,
                report,
            });
        }
    }

    /// A receipt found its message: no more look-ups for it.
    pub(super) fn retried(&mut self, report: &DeliveryReport) {
        if !self.retries.is_empty() {
            self.retries.remove(&key_of(report));
        }
    }

    /// Drops the kept receipts older than `retry_for`, then returns those to look up now (the
    /// ones looked up longest ago, at most `lookups_per_tick`), marked as looked up `now`.
    pub(super) fn due_retries(&mut self, now: Instant) -> Vec<DeliveryReport> {
        if self.retries.is_empty() {
            return Vec::new();
        }
        let retry_for = self.bounds.retry_for;
        self.retries.retain(|(provider, provider_message_id), r| {
            let keep = now.saturating_duration_since(r.since) < retry_for;
            if !keep {
                tracing::info!(provider = ?provider, provider_message_id = ?provider_message_id, "a receipt found no message to take it and was dropped");
            }
            keep
        });
        let mut due: Vec<(&ProviderKey, Instant)> =
            self.retries.iter().map(|(key, r)| (key, r.tried)).collect();
        due.sort_unstable_by_key(|(_, tried)| *tried);
        let due: Vec<ProviderKey> = due
            .into_iter()
            .take(self.bounds.lookups_per_tick)
            .map(|(key, _)| key.clone())
            .collect();
        let mut reports = Vec::with_capacity(due.len());
        for key in due {
            if let Some(r) = self.retries.get_mut(&key) {
                r.tried = now;
                reports.push(r.report.clone());
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{MessageStatus, MessageType},
        ports::DeliveryStatus,
        router::test_message::message,
    };
    use chrono::Utc;

    fn report(pid: &str) -> DeliveryReport {
        DeliveryReport {
            provider: "smso".into(),
            provider_message_id: pid.into(),
            message_id: None,
            status: DeliveryStatus::Delivered,
            at: Utc::now(),
            error: None,
        }
    }

    fn key(pid: &str) -> ProviderKey {
        ("smso".into(), pid.into())
    }

    fn small() -> Bounds {
        Bounds {
            recent_final: 2,
            awaiting: 2,
            early: 2,
            retries: 2,
            retry_for: Duration::from_secs(60),
            lookups_per_tick: 1,
        }
    }

    #[test]
    fn early_receipts_are_bounded_and_the_oldest_goes_first() {
        let mut book = ReceiptBook::with_bounds(small());
        book.hold_early(report("a"));
        book.hold_early(report("b"));
        book.hold_early(report("c"));
        assert!(book.take_early(&key("a")).is_none());
        assert!(book.take_early(&key("b")).is_some());
        assert!(book.take_early(&key("c")).is_some());
        assert!(book.take_early(&key("c")).is_none(), "taken once");
    }

    #[test]
    fn a_receipt_held_again_keeps_one_place_and_its_latest_status() {
        let mut book = ReceiptBook::with_bounds(small());
        book.hold_early(report("a"));
        let mut failed = report("a");
        failed.status = DeliveryStatus::Failed;
        book.hold_early(failed);
        book.hold_early(report("b"));
        let held = book.take_early(&key("a")).map(|r| r.status);
        assert_eq!(held, Some(DeliveryStatus::Failed));
        assert!(book.take_early(&key("b")).is_some());
    }

    #[test]
    fn recent_finals_are_bounded() {
        let mut book = ReceiptBook::with_bounds(small());
        let ids: Vec<MessageId> = (0..3).map(|_| MessageId::generate()).collect();
        for id in &ids {
            book.remember_final(id);
        }
        assert!(!book.finished_recently(&ids[0]));
        assert!(book.finished_recently(&ids[1]));
        assert!(book.finished_recently(&ids[2]));
    }

    #[test]
    fn past_the_bound_the_oldest_awaiting_message_is_handed_back() {
        let mut book = ReceiptBook::with_bounds(small());
        let ids: Vec<MessageId> = (0..3).map(|_| MessageId::generate()).collect();
        assert!(book.await_receipt(ids[0].clone()).is_empty());
        assert!(book.await_receipt(ids[1].clone()).is_empty());
        assert_eq!(book.await_receipt(ids[2].clone()), vec![ids[0].clone()]);
    }

    #[test]
    fn the_index_follows_the_message_in_and_out_of_memory() {
        let mut book = ReceiptBook::default();
        let sent = message(MessageType::Otp, MessageStatus::Sent, Some(("smso", "p1")));
        book.index_message(&sent);
        assert_eq!(book.message_for(&key("p1")), Some(&sent.id));
        book.unindex(&sent);
        assert_eq!(book.message_for(&key("p1")), None);
        // No provider id yet (QUEUED): nothing to find it by.
        let queued = message(MessageType::Otp, MessageStatus::Queued, None);
        book.index_message(&queued);
        assert!(book.index.is_empty());
    }

    #[test]
    fn one_receipt_waits_for_a_sending_message_and_is_taken_once() {
        let mut book = ReceiptBook::default();
        let id = MessageId::generate();
        book.hold_before_answer(id.clone(), report("p1"));
        let mut failed = report("p1");
        failed.status = DeliveryStatus::Failed;
        book.hold_before_answer(id.clone(), failed);
        let held = book.take_before_answer(&id).map(|r| r.status);
        assert_eq!(held, Some(DeliveryStatus::Failed), "the latest wins");
        assert!(book.take_before_answer(&id).is_none(), "one per message");
    }

    #[test]
    fn retries_are_bounded_paced_and_expire() {
        let mut book = ReceiptBook::with_bounds(small());
        let start = Instant::now();
        book.retry_later(report("a"), start);
        book.retry_later(report("b"), start + Duration::from_secs(1));
        book.retry_later(report("c"), start);
        // Bounded: "c" was refused. One look-up per tick, the longest untried first.
        let first = book.due_retries(start + Duration::from_secs(2));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].provider_message_id, "a");
        let second = book.due_retries(start + Duration::from_secs(3));
        assert_eq!(second[0].provider_message_id, "b");
        // Found its message: no longer looked up.
        book.retried(&report("a"));
        let third = book.due_retries(start + Duration::from_secs(4));
        assert_eq!(third[0].provider_message_id, "b");
        // Kept no longer than `retry_for` after it first came.
        assert!(book.due_retries(start + Duration::from_secs(61)).is_empty());
        book.retry_later(report("c"), start + Duration::from_secs(62));
        assert_eq!(book.due_retries(start + Duration::from_secs(63)).len(), 1);
    }
}
