//! Router: the lanes and the provider directory: which waiting message goes to which provider
//! next, and the view of providers the engine reads.

use super::{lane, RouterState};
use crate::protocol::{ProviderView, RouterMsg};
use crate::{
    domain::{MessageStatus, MessageType},
    policy::selection::{choose, order, Candidate},
};
use chrono::Utc;
use ractor::ActorRef;
use std::sync::Arc;

impl RouterState {
    pub(super) fn candidates(&self) -> Vec<Candidate<'_>> {
        self.order
            .iter()
            .filter_map(|slug| self.providers.get(slug))
            .map(|e| Candidate {
                slug: &e.config.slug,
                is_default: e.config.is_default,
                priority: e.config.priority,
                available: e.is_available(),
            })
            .collect()
    }

    /// Hands waiting messages to providers, lane by lane, while providers have room.
    pub(super) fn pump(&mut self, myself: &ActorRef<RouterMsg>) {
        if self.draining {
            return;
        }
        let now = Utc::now();
        for l in 0..self.lanes.len() {
            while let Some(id) = self.lanes[l].front().cloned() {
                let Some(tracked) = self.messages.get(&id) else {
                    self.lanes[l].pop_front();
                    continue;
                };
                if !matches!(
                    tracked.message.status,
                    MessageStatus::Queued | MessageStatus::Retrying
                ) {
                    self.lanes[l].pop_front();
                    continue;
                }
                if tracked.message.expires_at <= now {
                    self.lanes[l].pop_front();
                    self.expire(&id);
                    continue;
                }
                let chosen = choose(
                    &self.candidates(),
                    tracked.message.pinned_provider.as_deref(),
                    &tracked.tried,
                )
                .map(str::to_owned);
                let Some(slug) = chosen else {
                    // Nobody can take it now; it waits for a provider to recover, or expires.
                    break;
                };
                let Some(entry) = self.providers.get(&slug) else {
                    break;
                };
                if entry.outstanding >= entry.capacity() {
                    break;
                }
                self.lanes[l].pop_front();
                self.start_attempt(myself, &id, &slug);
            }
        }
        for t in MessageType::ALL {
            self.args.metrics.queue_depth(t, self.lanes[lane(t)].len());
        }
    }

    pub(super) fn providers_changed(&mut self) {
        let mut candidates: Vec<Candidate<'_>> = self
            .providers
            .values()
            .map(|e| Candidate {
                slug: &e.config.slug,
                is_default: e.config.is_default,
                priority: e.config.priority,
                available: true,
            })
            .collect();
        order(&mut candidates);
        self.order = candidates.iter().map(|c| c.slug.to_owned()).collect();
        self.publish_directory();
    }

    pub(super) fn views(&self) -> Vec<ProviderView> {
        self.order
            .iter()
            .filter_map(|s| self.providers.get(s))
            .map(|e| ProviderView {
                config: e.config.clone(),
                running: e.actor.is_some(),
                health: e.health.clone(),
                in_flight: e.outstanding,
            })
            .collect()
    }

    pub(super) fn publish_directory(&self) {
        self.args.directory.send_replace(Arc::new(self.views()));
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
