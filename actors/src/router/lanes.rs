//! Router: the lanes: the messages waiting for a provider, one queue per message type, and
//! what the message at the head of a lane may do now.
//!
//! Invariants:
//! - Lanes are served in `Lanes::ORDER`: OTP before transactional before marketing; a lane is
//!   served only once the lanes before it wait or are empty.
//! - Within a lane, messages go in the order they were queued (a retry queues at the back).
//! - Only the head of a lane is judged. When it must wait (no provider can take it, or the
//!   provider it would go to is at its concurrency limit) the whole lane waits: its messages
//!   are not spilled onto a costlier provider, nor sent out of order.
//! - A lane may still hold the id of a message that left it otherwise (finished, forgotten):
//!   such a head is `Gone` and simply dropped, so nothing else needs to search the lanes.

use crate::domain::{Message, MessageId, MessageStatus, MessageType};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

#[derive(Default)]
pub(super) struct Lanes {
    queues: [VecDeque<MessageId>; 3],
}

impl Lanes {
    /// The order in which lanes are served.
    pub(super) const ORDER: [MessageType; 3] = [
        MessageType::Otp,
        MessageType::Transactional,
        MessageType::Marketing,
    ];

    fn index(t: MessageType) -> usize {
        match t {
            MessageType::Otp => 0,
            MessageType::Transactional => 1,
            MessageType::Marketing => 2,
        }
    }

    pub(super) fn push(&mut self, t: MessageType, id: MessageId) {
        self.queues[Self::index(t)].push_back(id);
    }

    pub(super) fn front(&self, t: MessageType) -> Option<&MessageId> {
        self.queues[Self::index(t)].front()
    }

    pub(super) fn pop(&mut self, t: MessageType) {
        self.queues[Self::index(t)].pop_front();
    }

    pub(super) fn len(&self, t: MessageType) -> usize {
        self.queues[Self::index(t)].len()
    }

    /// Every waiting id, lane by lane in serving order.
    pub(super) fn waiting(&self) -> impl Iterator<Item = &MessageId> {
        Self::ORDER
            .into_iter()
            .flat_map(move |t| self.queues[Self::index(t)].iter())
    }
}

/// What the message at the head of a lane may do now.
#[derive(Debug, PartialEq)]
pub(super) enum Head {
    /// No longer waits (not held, or no longer QUEUED/RETRYING): dropped from the lane.
    Gone,
    /// Its validity ran out while it waited.
    Expired,
    /// No provider can take it now: the lane waits for one to recover or to have room.
    Waits,
    /// Goes to this provider now.
    Goes(String),
}

/// Judges the head of a lane: `message` as the Router holds it (`None`: not held), `pick` the
/// provider that would take it now if that provider has room.
pub(super) fn judge(
    message: Option<&Message>,
    now: DateTime<Utc>,
    pick: impl FnOnce() -> Option<String>,
) -> Head {
    let Some(message) = message else {
        return Head::Gone;
    };
    if !matches!(
        message.status,
        MessageStatus::Queued | MessageStatus::Retrying
    ) {
        return Head::Gone;
    }
    if message.expires_at <= now {
        return Head::Expired;
    }
    pick().map_or(Head::Waits, Head::Goes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::test_message::message;

    #[test]
    fn lanes_are_served_otp_first_and_in_order_within_a_lane() {
        let mut lanes = Lanes::default();
        let ids: Vec<MessageId> = (0..4).map(|_| MessageId::generate()).collect();
        lanes.push(MessageType::Marketing, ids[0].clone());
        lanes.push(MessageType::Transactional, ids[1].clone());
        lanes.push(MessageType::Otp, ids[2].clone());
        lanes.push(MessageType::Otp, ids[3].clone());
        let order: Vec<&MessageId> = lanes.waiting().collect();
        assert_eq!(order, vec![&ids[2], &ids[3], &ids[1], &ids[0]]);
        assert_eq!(lanes.front(MessageType::Otp), Some(&ids[2]));
        lanes.pop(MessageType::Otp);
        assert_eq!(lanes.front(MessageType::Otp), Some(&ids[3]));
        assert_eq!(lanes.len(MessageType::Otp), 1);
        assert_eq!(lanes.len(MessageType::Marketing), 1);
    }

    #[test]
    fn a_head_that_no_longer_waits_is_gone() {
        let now = Utc::now();
        let go = || Some("smso".to_owned());
        assert_eq!(judge(None, now, go), Head::Gone);
        for status in [
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Failed,
        ] {
            let m = message(MessageType::Otp, status, None);
            assert_eq!(judge(Some(&m), now, go), Head::Gone, "{status:?}");
        }
    }

    #[test]
    fn an_expired_head_expires_before_any_provider_is_picked() {
        let mut m = message(MessageType::Otp, MessageStatus::Retrying, None);
        m.expires_at = Utc::now();
        let head = judge(Some(&m), m.expires_at, || panic!("no provider for it"));
        assert_eq!(head, Head::Expired);
    }

    #[test]
    fn a_waiting_head_goes_where_picked_or_waits() {
        let m = message(MessageType::Marketing, MessageStatus::Queued, None);
        let now = Utc::now();
        assert_eq!(
            judge(Some(&m), now, || Some("smso".into())),
            Head::Goes("smso".into())
        );
        assert_eq!(judge(Some(&m), now, || None), Head::Waits);
    }
}
