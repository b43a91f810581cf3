//! The update bus: every stored status change, published after its commit, and the stream logic
//! of a subscription (stored snapshot first, then live changes, end on a final state).

use crate::domain::{Message, MessageFilter, MessageId};
use futures::{stream::BoxStream, StreamExt};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Which changes a subscriber wants. With `message_id`, the stream follows one message and ends
/// once it reaches a final state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateFilter {
    pub message_id: Option<MessageId>,
    pub messages: MessageFilter,
}

impl UpdateFilter {
    pub fn matches(&self, m: &Message) -> bool {
        self.message_id.as_ref().is_none_or(|id| *id == m.id) && self.messages.matches(m)
    }
}

/// What to do with one item from the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Skip,
    Yield,
    /// Yield it, then end: the followed message can change no more.
    YieldAndEnd,
}

/// The per-item decision, kept pure so its table is tested without a bus.
pub fn step(filter: &UpdateFilter, update: &Message) -> Step {
    if !filter.matches(update) {
        Step::Skip
    } else if filter.message_id.is_some() && update.status.is_final() {
        Step::YieldAndEnd
    } else {
        Step::Yield
    }
}

/// A bounded broadcast: a subscriber that falls more than `capacity` changes behind is ended
/// (it re-subscribes and reads the stored state), so a slow client never grows our memory.
#[derive(Clone)]
pub struct UpdateBus {
    tx: broadcast::Sender<Arc<Message>>,
}

impl UpdateBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    pub fn publish(&self, message: Arc<Message>) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(message);
    }

    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Subscribe before reading `snapshot` from the store, so no change falls between the two.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<Message>> {
        self.tx.subscribe()
    }

    /// The stream of a subscription: the snapshot (when following one message), then live changes.
    /// Live changes older than the snapshot are skipped by their event count.
    pub fn stream(
        rx: broadcast::Receiver<Arc<Message>>,
        filter: UpdateFilter,
        snapshot: Option<Message>,
    ) -> BoxStream<'static, Arc<Message>> {
        let seen = snapshot.as_ref().map_or(0, |m| m.events.len());
        let ended = snapshot.as_ref().is_some_and(|m| m.status.is_final());
        let head = futures::stream::iter(snapshot.map(Arc::new));
        if ended {
            return head.boxed();
        }
        // Ends right after yielding a final state, not when the next unrelated change arrives.
        let live = futures::stream::unfold(Some((rx, filter)), move |state| async move {
            let (mut rx, filter) = state?;
            loop {
                match rx.recv().await {
                    Ok(m) if m.events.len() <= seen => continue,
                    Ok(m) => match step(&filter, &m) {
                        Step::Skip => continue,
                        Step::Yield => return Some((m, Some((rx, filter)))),
                        Step::YieldAndEnd => return Some((m, None)),
                    },
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::debug!(
                            skipped,
                            "an update subscriber lagged behind and was ended"
                        );
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        head.chain(live).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageStatus, E164};

    fn message(id: &MessageId, status: MessageStatus, to: &str, events: usize) -> Message {
        let now = chrono::Utc::now();
        Message {
            id: id.clone(),
            to: E164::from_stored(to.into()),
            body: "b".into(),
            message_type: crate::domain::MessageType::Otp,
            sender: None,
            pinned_provider: None,
            idempotency_key: None,
            sent_by: None,
            status,
            provider: None,
            provider_message_id: None,
            encoding: crate::domain::Encoding::Gsm7,
            segments: 1,
            cost: None,
            attempts: 0,
            error: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
            delivered_at: None,
            expires_at: now,
            events: (0..events)
                .map(|_| crate::domain::MessageEvent {
                    status,
                    at: now,
                    provider: None,
                    error: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_step_table() {
        let id = MessageId::generate();
        let other = MessageId::generate();
        let follow = UpdateFilter {
            message_id: Some(id.clone()),
            ..UpdateFilter::default()
        };
        let all = UpdateFilter::default();
        let cases = [
            (
                &follow,
                message(&id, MessageStatus::Sent, "+40700000000", 3),
                Step::Yield,
            ),
            (
                &follow,
                message(&id, MessageStatus::Delivered, "+40700000000", 4),
                Step::YieldAndEnd,
            ),
            (
                &follow,
                message(&other, MessageStatus::Sent, "+40700000000", 3),
                Step::Skip,
            ),
            // Without an id, a final state does not end the stream: more messages may follow.
            (
                &all,
                message(&id, MessageStatus::Delivered, "+40700000000", 4),
                Step::Yield,
            ),
        ];
        for (filter, m, expected) in cases {
            assert_eq!(
                step(filter, &m),
                expected,
                "{:?} {}",
                filter.message_id,
                m.status
            );
        }
    }

    #[tokio::test]
    async fn a_followed_message_ends_right_after_its_final_state() {
        let bus = UpdateBus::new(16);
        let id = MessageId::generate();
        let snapshot = message(&id, MessageStatus::Queued, "+40700000000", 1);
        let follow = UpdateFilter {
            message_id: Some(id.clone()),
            ..UpdateFilter::default()
        };
        let mut stream = UpdateBus::stream(bus.receiver(), follow, Some(snapshot));
        // An old change (no newer than the snapshot) is skipped; then SENT, then DELIVERED.
        bus.publish(Arc::new(message(
            &id,
            MessageStatus::Queued,
            "+40700000000",
            1,
        )));
        bus.publish(Arc::new(message(
            &id,
            MessageStatus::Sent,
            "+40700000000",
            3,
        )));
        bus.publish(Arc::new(message(
            &id,
            MessageStatus::Delivered,
            "+40700000000",
            4,
        )));
        let got: Vec<_> = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            stream.by_ref().map(|m| m.status).collect::<Vec<_>>(),
        )
        .await
        .expect("the stream ends by itself after DELIVERED");
        assert_eq!(
            got,
            [
                MessageStatus::Queued,
                MessageStatus::Sent,
                MessageStatus::Delivered
            ]
        );
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_ended() {
        let bus = UpdateBus::new(16);
        let mut stream = UpdateBus::stream(bus.receiver(), UpdateFilter::default(), None);
        for _ in 0..40 {
            bus.publish(Arc::new(message(
                &MessageId::generate(),
                MessageStatus::Sent,
                "+40700000000",
                3,
            )));
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), stream.next())
            .await
            .expect("answers at once");
        assert!(
            got.is_none(),
            "a subscriber 40 changes behind a bus of 16 is ended"
        );
    }
}
