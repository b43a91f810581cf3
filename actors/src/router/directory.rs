//! Router: the providers it can send through: each one's configuration, actor, health and
//! calls in flight; their order of preference; and the view of them the engine reads.

use super::RouterState;
use crate::{
    domain::{MessageId, MessageStatus, ProviderConfig, ProviderSettings},
    policy::{
        breaker::CircuitState,
        selection::{order, Candidate},
    },
    protocol::{ProviderHealth, ProviderMsg, ProviderView},
};
use ractor::ActorRef;
use std::sync::Arc;

pub(super) struct Entry {
    pub(super) config: ProviderConfig,
    pub(super) max_concurrency: usize,
    pub(super) actor: Option<ActorRef<ProviderMsg>>,
    pub(super) health: ProviderHealth,
    /// Calls in flight through it (sends and start-up look-ups).
    pub(super) outstanding: usize,
}

impl Entry {
    pub(super) fn capacity(&self) -> usize {
        match self.health.circuit {
            CircuitState::HalfOpen => 1,
            CircuitState::Closed | CircuitState::Open => self.max_concurrency,
        }
    }

    pub(super) fn is_available(&self) -> bool {
        self.actor.is_some() && self.config.is_active && self.health.can_take_messages()
    }
}

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

    /// A provider actor (re)started: it takes messages again, and polls for the SENT messages
    /// that still wait for a receipt through it, so polling survives its restart.
    pub(super) fn provider_up(&mut self, config: ProviderConfig, actor: ActorRef<ProviderMsg>) {
        let settings = ProviderSettings::from_json(&config.settings);
        let slug = config.slug.clone();
        let outstanding = self.providers.get(&slug).map_or(0, |e| e.outstanding);
        self.providers.insert(
            slug.clone(),
            Entry {
                config,
                max_concurrency: settings.max_concurrency,
                actor: Some(actor),
                health: ProviderHealth::fresh(),
                outstanding,
            },
        );
        self.providers_changed();
        let waiting: Vec<MessageId> = self
            .messages
            .values()
            .filter(|t| {
                t.message.status == MessageStatus::Sent
                    && t.message.provider.as_deref() == Some(slug.as_str())
            })
            .map(|t| t.message.id.clone())
            .collect();
        for id in waiting {
            self.tell_provider_awaiting(&id);
        }
    }

    pub(super) fn provider_down(&mut self, slug: &str, removed: bool) {
        if removed {
            self.providers.remove(slug);
        } else if let Some(entry) = self.providers.get_mut(slug) {
            entry.actor = None;
        }
        self.providers_changed();
    }

    pub(super) fn provider_health(&mut self, slug: &str, health: ProviderHealth) {
        if let Some(entry) = self.providers.get_mut(slug) {
            entry.health = health;
        }
        self.publish_directory();
    }

    /// A call through `provider` returned: one less in flight.
    pub(super) fn call_returned(&mut self, provider: &str) {
        if let Some(entry) = self.providers.get_mut(provider) {
            entry.outstanding = entry.outstanding.saturating_sub(1);
            self.args.metrics.in_flight(provider, entry.outstanding);
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
}
