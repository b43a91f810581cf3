//! The update bus: every stored status change, published after its commit, and the stream logic
//! of a subscription (stored snapshot first, then live changes, end on a final state).

use crate::domain::{Message, MessageFilter, MessageId};
use futures::{stream::BoxStream, StreamExt};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

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
        let live = BroadcastStream::new(rx)
            .take_while(|item| {
                let lagged = matches!(item, Err(BroadcastStreamRecvError::Lagged(_)));
                if lagged {
                    tracing::debug!("an update subscriber lagged behind and was ended");
                }
                futures::future::ready(!lagged)
            })
            .filter_map(|item| futures::future::ready(item.ok()))
            .filter(move |m| futures::future::ready(m.events.len() > seen))
            .scan(false, move |done, m| {
                if *done {
                    return futures::future::ready(None);
                }
                let out = match step(&filter, &m) {
                    Step::Skip => Some(None),
                    Step::Yield => Some(Some(m)),
                    Step::YieldAndEnd => {
                        *done = true;
                        Some(Some(m))
                    }
                };
                futures::future::ready(out)
            })
            .filter_map(futures::future::ready);
        head.chain(live).boxed()
    }
}
