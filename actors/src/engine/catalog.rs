//! The provider catalog: the stored side of provider administration (validate, seal, write),
//! with no actors. The engine's admin calls use it and then make each change live; the command
//! line (`smsgate providers ...`) uses it alone, on the store, while no engine runs over it.

use super::validate::{
    check_credentials, valid_features, valid_name, valid_sender_id, valid_settings, valid_slug,
    valid_url, NewProvider, ProviderPatch,
};
use crate::{
    domain::{new_webhook_secret, ProviderConfig, ProviderId, ProviderKind},
    error::EngineError,
    ports::{ProviderFactory, SecretSealer, Store},
};
use chrono::Utc;
use serde_json::Value;
use std::sync::Arc;

/// Stored providers and the sealer their credentials go through before they are written.
#[derive(Clone)]
pub struct ProviderCatalog {
    store: Arc<dyn Store>,
    sealer: Arc<dyn SecretSealer>,
    /// The adapters' own check of a configuration (settings, URLs), when one is given.
    checker: Option<Arc<dyn ProviderFactory>>,
}

impl ProviderCatalog {
    pub fn new(store: Arc<dyn Store>, sealer: Arc<dyn SecretSealer>) -> Self {
        Self {
            store,
            sealer,
            checker: None,
        }
    }

    /// Has every configuration checked by the factory that will build it before it is stored.
    pub fn with_checker(mut self, checker: Arc<dyn ProviderFactory>) -> Self {
        self.checker = Some(checker);
        self
    }

    fn check(&self, config: &ProviderConfig) -> Result<(), EngineError> {
        match &self.checker {
            Some(checker) => checker.check(config),
            None => Ok(()),
        }
    }

    /// Seals credentials checked against `kind`: the token to store and its hint.
    fn seal(
        &self,
        kind: ProviderKind,
        credentials: Option<&Value>,
    ) -> Result<(Option<String>, Option<String>), EngineError> {
        let hint = check_credentials(kind, credentials)?;
        match credentials.filter(|c| !c.is_null()) {
            None => Ok((None, None)),
            Some(plain) => {
                let sealed = self
                    .sealer
                    .seal(plain)
                    .map_err(|e| EngineError::Internal(Box::new(e)))?;
                Ok((Some(sealed), hint))
            }
        }
    }

    /// Every stored provider, default first and then by priority.
    pub async fn list(&self) -> Result<Vec<ProviderConfig>, EngineError> {
        let mut configs = self.store.providers().await?;
        configs.sort_by(|a, b| {
            (!a.is_default, a.priority, &a.slug).cmp(&(!b.is_default, b.priority, &b.slug))
        });
        Ok(configs)
    }

    /// One stored provider, by id or by slug.
    pub async fn find(&self, id_or_slug: &str) -> Result<ProviderConfig, EngineError> {
        if let Some(id) = ProviderId::parse(id_or_slug) {
            return self
                .store
                .provider(&id)
                .await?
                .ok_or_else(|| EngineError::not_found("provider", id_or_slug));
        }
        self.store
            .providers()
            .await?
            .into_iter()
            .find(|p| p.slug == id_or_slug)
            .ok_or_else(|| EngineError::not_found("provider", id_or_slug))
    }

    /// Stores a new provider. The first becomes the default; a taken slug is a CONFLICT.
    pub async fn create(&self, new: NewProvider) -> Result<ProviderConfig, EngineError> {
        let name = valid_name(&new.name)?;
        let slug = valid_slug(&new.slug)?;
        let kind = new.kind.ok_or_else(|| {
            EngineError::invalid("kind", "one of SMSO, TWILIO, VONAGE, HTTP, MOCK")
        })?;
        let api_base_url = valid_url(new.api_base_url.as_deref())?;
        let sender_id = valid_sender_id(new.sender_id.as_deref())?;
        let features = valid_features(new.features)?;
        let settings = valid_settings(new.settings)?;
        let existing = self.store.providers().await?;
        if existing.iter().any(|p| p.slug == slug) {
            return Err(EngineError::Conflict(format!(
                "a provider with the slug {slug:?} already exists"
            )));
        }
        let (credentials, api_key_hint) = self.seal(kind, new.credentials.as_ref())?;
        let now = Utc::now();
        let config = ProviderConfig {
            id: ProviderId::generate(),
            name,
            slug,
            kind,
            is_active: new.is_active,
            is_default: !existing.iter().any(|p| p.is_default),
            priority: new.priority,
            features,
            sender_id,
            api_base_url,
            credentials,
            api_key_hint,
            settings,
            created_at: now,
            updated_at: now,
            webhook_secret: kind.has_webhook_secret().then(new_webhook_secret),
        };
        self.check(&config)?;
        self.store.insert_provider(&config).await?;
        tracing::info!(provider = %config.slug, provider_id = %config.id, kind = kind.as_str(), is_active = config.is_active, "provider created");
        Ok(config)
    }

    /// Changes the given fields of a provider (by id or slug) and stores it.
    pub async fn update(
        &self,
        id_or_slug: &str,
        patch: ProviderPatch,
    ) -> Result<ProviderConfig, EngineError> {
        let mut config = self.find(id_or_slug).await?;
        let before = config.clone();
        if let Some(name) = &patch.name {
            config.name = valid_name(name)?;
        }
        if let Some(url) = &patch.api_base_url {
            config.api_base_url = valid_url(url.as_deref())?;
        }
        if let Some(sender) = &patch.sender_id {
            config.sender_id = valid_sender_id(sender.as_deref())?;
        }
        if let Some(features) = patch.features {
            config.features = valid_features(features)?;
        }
        if let Some(settings) = patch.settings {
            config.settings = valid_settings(Some(settings))?;
        }
        if let Some(priority) = patch.priority {
            config.priority = priority;
        }
        if let Some(active) = patch.is_active {
            config.is_active = active;
        }
        let kind = patch.kind.unwrap_or(config.kind);
        match &patch.credentials {
            Some(credentials) => {
                (config.credentials, config.api_key_hint) = self.seal(kind, Some(credentials))?;
            }
            // Stored credentials never follow a provider to another host or kind: whoever
            // points it elsewhere gives them again (a MOCK takes none, so they are dropped).
            None if config.credentials.is_some()
                && kind != ProviderKind::Mock
                && retargets(&before, &config, kind) =>
            {
                return Err(EngineError::invalid(
                    "credentials",
                    "changing the API base URL, the url, the headers or the kind needs the credentials again",
                ));
            }
            // The stored credentials were checked against the old kind; a new kind needs its own.
            None if kind != config.kind => {
                (config.credentials, config.api_key_hint) = self.seal(kind, None)?;
            }
            None => {}
        }
        config.kind = kind;
        // A kind whose receipts come unsigned gets a secret in its webhook path; the others
        // keep none (Twilio signs its callbacks).
        if !kind.has_webhook_secret() {
            config.webhook_secret = None;
        } else if config.webhook_secret.is_none() {
            config.webhook_secret = Some(new_webhook_secret());
        }
        config.updated_at = Utc::now();
        self.check(&config)?;
        self.store.update_provider(&config).await?;
        tracing::info!(provider = %config.slug, provider_id = %config.id, is_active = config.is_active, credentials_changed = patch.credentials.is_some(), "provider updated");
        Ok(config)
    }

    /// Replaces the provider's webhook path secret with a new random one: the old webhook URL
    /// answers 404 from then on. Returns the provider with its new secret (to show once).
    pub async fn rotate_webhook_secret(
        &self,
        id_or_slug: &str,
    ) -> Result<ProviderConfig, EngineError> {
        let mut config = self.find(id_or_slug).await?;
        if !config.kind.has_webhook_secret() {
            return Err(EngineError::invalid(
                "id",
                format!(
                    "a {} provider has no webhook secret: only SMSO and Vonage webhook URLs carry one (Twilio signs its callbacks)",
                    config.kind.as_str()
                ),
            ));
        }
        config.webhook_secret = Some(new_webhook_secret());
        config.updated_at = Utc::now();
        self.store.update_provider(&config).await?;
        tracing::info!(provider = %config.slug, provider_id = %config.id, "webhook secret rotated");
        Ok(config)
    }

    /// Makes this provider the default (and active). The previous default stops being one in the
    /// same store write, so there is never more than one. Returns the provider and the ids of
    /// the providers that were the default before.
    pub async fn activate(
        &self,
        id_or_slug: &str,
    ) -> Result<(ProviderConfig, Vec<ProviderId>), EngineError> {
        let mut config = self.find(id_or_slug).await?;
        let previous: Vec<ProviderId> = self
            .store
            .providers()
            .await?
            .into_iter()
            .filter(|p| p.is_default && p.id != config.id)
            .map(|p| p.id)
            .collect();
        if !config.is_active {
            config.is_active = true;
            config.updated_at = Utc::now();
            self.store.update_provider(&config).await?;
        }
        self.store.set_default_provider(&config.id).await?;
        config.is_default = true;
        tracing::info!(provider = %config.slug, provider_id = %config.id, "provider is now the default");
        Ok((config, previous))
    }

    /// Removes a provider. The default cannot be removed while other providers exist
    /// (activate another first): that would leave none as the default.
    pub async fn delete(&self, id_or_slug: &str) -> Result<ProviderConfig, EngineError> {
        let config = self.find(id_or_slug).await?;
        if config.is_default {
            let others = self.store.providers().await?.len() > 1;
            if others {
                return Err(EngineError::Conflict(format!(
                    "{} is the default provider; activate another before deleting it",
                    config.slug
                )));
            }
        }
        if !self.store.delete_provider(&config.id).await? {
            return Err(EngineError::not_found("provider", id_or_slug));
        }
        tracing::info!(provider = %config.slug, provider_id = %config.id, "provider deleted");
        Ok(config)
    }
}

/// Whether a change sends the provider's calls somewhere else: another API base URL, another
/// generic `url` or `headers` (which place the credentials), or another kind.
fn retargets(before: &ProviderConfig, after: &ProviderConfig, kind: ProviderKind) -> bool {
    let setting = |config: &ProviderConfig, key: &str| config.settings.get(key).cloned();
    kind != before.kind
        || after.api_base_url != before.api_base_url
        || setting(after, "url") != setting(before, "url")
        || setting(after, "headers") != setting(before, "headers")
}
