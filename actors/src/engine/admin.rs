//! Provider administration through the engine: create, update, activate, delete and test-send.
//! Each change goes through the [`ProviderCatalog`] (validated, credentials sealed first so
//! plaintext never reaches the store, written) and is then made live by the supervisor before
//! the call returns.

use super::{
    catalog::ProviderCatalog, Engine, NewProvider, ProviderPatch, SendSms, CALL_TIMEOUT_MS,
};
use crate::{
    domain::{Message, MessageType, ProviderConfig, ProviderId},
    error::EngineError,
    provider::ProviderHealth,
    router::ProviderView,
    supervisor::SupervisorMsg,
    updates::UpdateFilter,
};
use futures::StreamExt;
use ractor::call_t;
use std::time::Duration;

impl Engine {
    /// Has the supervisor start, restart or stop the provider's actor to match the store, and
    /// waits until the Router knows: after this, requests see the change.
    async fn reconfigure(&self, id: &ProviderId) -> Result<(), EngineError> {
        let id = id.clone();
        call_t!(
            self.inner.supervisor,
            |reply| SupervisorMsg::Reconfigure(id, reply),
            CALL_TIMEOUT_MS
        )
        .map_err(|_| EngineError::stopped("supervisor"))?;
        // The supervisor told the Router before answering; a round trip to the Router is
        // therefore answered after it took the change in, and the directory is current.
        self.providers().await.map(|_| ())
    }

    /// The stored configuration with the live health, when its actor runs.
    fn view(&self, config: ProviderConfig) -> ProviderView {
        let directory = self.inner.directory.borrow().clone();
        match directory.iter().find(|v| v.config.slug == config.slug) {
            Some(live) => ProviderView {
                running: live.running && config.is_active,
                health: live.health.clone(),
                in_flight: live.in_flight,
                config,
            },
            None => ProviderView {
                config,
                running: false,
                health: ProviderHealth::fresh(),
                in_flight: 0,
            },
        }
    }

    fn catalog(&self) -> ProviderCatalog {
        ProviderCatalog::new(self.inner.store.clone(), self.inner.sealer.clone())
            .with_checker(self.inner.checker.clone())
    }

    /// Every stored provider, active or not, default first and then by priority, each with its
    /// live health.
    pub async fn configured_providers(&self) -> Result<Vec<ProviderView>, EngineError> {
        let configs = self.catalog().list().await?;
        Ok(configs.into_iter().map(|c| self.view(c)).collect())
    }

    /// One stored provider, by id or slug, with its live health.
    pub async fn configured_provider(&self, id_or_slug: &str) -> Result<ProviderView, EngineError> {
        Ok(self.view(self.catalog().find(id_or_slug).await?))
    }

    /// Stores a new provider and starts it when active. The first provider becomes the default.
    /// A taken slug is a CONFLICT.
    pub async fn create_provider(&self, new: NewProvider) -> Result<ProviderView, EngineError> {
        let config = self.catalog().create(new).await?;
        self.reconfigure(&config.id).await?;
        Ok(self.view(config))
    }

    /// Changes the given fields and restarts (or stops) the provider's actor to match. Calls in
    /// flight finish on the old client; their messages are not lost.
    pub async fn update_provider(
        &self,
        id: &str,
        patch: ProviderPatch,
    ) -> Result<ProviderView, EngineError> {
        let config = self.catalog().update(id, patch).await?;
        self.reconfigure(&config.id).await?;
        Ok(self.view(config))
    }

    /// Gives the provider a new webhook path secret and restarts it, so its sends hand the new
    /// URL over; the old URL answers 404 from now on. The answer holds the secret: show it once.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<ProviderView, EngineError> {
        let config = self.catalog().rotate_webhook_secret(id).await?;
        self.reconfigure(&config.id).await?;
        Ok(self.view(config))
    }

    /// Makes this provider the default (and active). The previous default stops being one in the
    /// same store write, so there is never more than one.
    pub async fn activate_provider(&self, id: &str) -> Result<ProviderView, EngineError> {
        let (config, previous) = self.catalog().activate(id).await?;
        // Each provider whose flag changed is restarted with it, so the Router orders them anew.
        for old in previous.iter().chain(std::iter::once(&config.id)) {
            self.reconfigure(old).await?;
        }
        Ok(self.view(config))
    }

    /// Removes the provider and stops its actor. The default cannot be removed while other
    /// providers exist (activate another first): that would leave none as the default.
    pub async fn delete_provider(&self, id: &str) -> Result<ProviderConfig, EngineError> {
        let config = self.catalog().delete(id).await?;
        // Stopping by slug also drops it from the Router when its actor was not running.
        let _ = self
            .inner
            .supervisor
            .cast(SupervisorMsg::StopProvider(config.slug.clone()));
        self.reconfigure(&config.id).await?;
        Ok(config)
    }

    /// Sends a message through this provider only and waits up to `wait` for a final state.
    /// Returns the message as it is then (still SENT, say, when no receipt came in time).
    pub async fn send_test(
        &self,
        id: &str,
        to: &str,
        body: &str,
        wait: Duration,
    ) -> Result<Message, EngineError> {
        let config = self.configured_provider(id).await?.config;
        let accepted = self
            .send(SendSms {
                to: to.to_owned(),
                body: body.to_owned(),
                message_type: MessageType::Transactional,
                provider: Some(config.slug.clone()),
                ..SendSms::default()
            })
            .await?;
        tracing::info!(provider = %config.slug, message_id = %accepted.id, "test message sent");
        let mut updates = self
            .subscribe(UpdateFilter {
                message_id: Some(accepted.id.clone()),
                ..UpdateFilter::default()
            })
            .await?;
        let mut last = accepted;
        let _ = tokio::time::timeout(wait, async {
            while let Some(update) = updates.next().await {
                last = (*update).clone();
                if last.status.is_final() {
                    break;
                }
            }
        })
        .await;
        Ok(last)
    }
}
