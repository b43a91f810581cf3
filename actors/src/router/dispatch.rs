//! Router: the hot path: taking a message in and queueing it in its lane, handing waiting
//! messages to providers (each lane's head is judged, see `lanes`, and goes, waits, expires or
//! is dropped), expiring those that waited too long, and draining, which stops it.

use super::{
    lanes::{judge, Head, Lanes},
    RouterState, Tracked,
};
use crate::{
    domain::{event::ErrorKind, Message, MessageError, MessageId, MessageStatus, MessageType},
    policy::selection::choose,
    protocol::RouterMsg,
};
use chrono::{DateTime, Utc};
use ractor::ActorRef;

impl RouterState {
    /// Holds a message in memory (indexed by its provider id, when it has one).
    pub(super) fn track(&mut self, message: Message) {
        self.book.index_message(&message);
        self.messages.insert(
            message.id.clone(),
            Tracked {
                message,
                tried: Vec::new(),
            },
        );
    }

    /// A message just accepted (or requeued at start) waits in its lane.
    pub(super) fn enqueue(&mut self, message: Message) {
        let id = message.id.clone();
        let t = message.message_type;
        self.track(message);
        self.lanes.push(t, id);
    }

    /// A retry's delay is over: the message queues again at the back of its lane.
    pub(super) fn requeue(&mut self, id: MessageId) {
        if let Some(t) = self.messages.get(&id) {
            if t.message.status == MessageStatus::Retrying {
                self.lanes.push(t.message.message_type, id);
            }
        }
    }

    /// Hands waiting messages to providers, lane by lane, while providers have room.
    pub(super) fn pump(&mut self, myself: &ActorRef<RouterMsg>) {
        if self.draining {
            return;
        }
        let now = Utc::now();
        for t in Lanes::ORDER {
            while let Some(id) = self.lanes.front(t).cloned() {
                match self.judge_head(&id, now) {
                    Head::Gone => self.lanes.pop(t),
                    Head::Expired => {
                        self.lanes.pop(t);
                        self.expire(&id);
                    }
                    // Nobody can take it now; it waits for a provider to recover, or expires.
                    Head::Waits => break,
                    Head::Goes(slug) => {
                        self.lanes.pop(t);
                        self.start_attempt(myself, &id, &slug);
                    }
                }
            }
        }
        for t in MessageType::ALL {
            self.args.metrics.queue_depth(t, self.lanes.len(t));
        }
    }

    /// What the head `id` of a lane may do now: the provider selection would pick for it,
    /// if that provider has room.
    fn judge_head(&self, id: &MessageId, now: DateTime<Utc>) -> Head {
        let tracked = self.messages.get(id);
        judge(tracked.map(|t| &t.message), now, || {
            let tracked = tracked?;
            let candidates = self.candidates();
            let slug = choose(
                &candidates,
                tracked.message.pinned_provider.as_deref(),
                &tracked.tried,
            )?;
            let entry = self.providers.get(slug)?;
            (entry.outstanding < entry.capacity()).then(|| slug.to_owned())
        })
    }

    /// Stops dispatching; `reply` is answered once no provider call is in flight.
    pub(super) fn drain(&mut self, reply: ractor::RpcReplyPort<()>) {
        self.draining = true;
        self.drain_waiters.push(reply);
        self.answer_drain_waiters();
    }

    pub(super) fn answer_drain_waiters(&mut self) {
        if !self.draining || self.providers.values().any(|e| e.outstanding > 0) {
            return;
        }
        for waiter in self.drain_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    pub(super) fn expire(&mut self, id: &MessageId) {
        let error = MessageError {
            kind: ErrorKind::Expired,
            message: "its validity ran out before a provider could take it".into(),
        };
        self.change(id, MessageStatus::Expired, Some(error), None);
    }

    pub(super) fn expire_waiting(&mut self) {
        let now = Utc::now();
        let expired: Vec<MessageId> = self
            .lanes
            .waiting()
            .filter(|id| {
                self.messages
                    .get(*id)
                    .is_some_and(|t| t.message.expires_at <= now)
            })
            .cloned()
            .collect();
        for id in expired {
            self.expire(&id);
        }
    }
}
