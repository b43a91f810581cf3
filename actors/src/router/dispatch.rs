//! Router: handing waiting messages to providers: each lane's head is judged (see `lanes`)
//! and goes, waits, expires or is dropped; and draining, which stops it.

use super::{
    lanes::{judge, Head, Lanes},
    RouterState,
};
use crate::{
    domain::{MessageId, MessageType},
    policy::selection::choose,
    protocol::RouterMsg,
};
use chrono::{DateTime, Utc};
use ractor::ActorRef;

impl RouterState {
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
}
