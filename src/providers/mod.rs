//! Concrete SMS providers and the factory that builds one for each stored provider config:
//! SMSO.ro, Twilio, Vonage, a generic HTTP API, and the mock.
//!
//! # Layout
//! - `http`: the shared client builder, rate limiter and error classifier.
//! - `outbound`: which addresses provider and webhook calls may reach (`outbound_allow`).
//! - `check`: a configuration checked by the adapters before it is stored.
//! - `smso`, `twilio`, `vonage`, `generic`: one adapter per wire format.
//! - `mock`: a provider that sends nothing, for development and tests.

pub mod check;
pub mod generic;
pub mod http;
pub mod mock;
pub mod outbound;
pub mod smso;
pub mod twilio;
pub mod vonage;

pub use mock::{MockProvider, MockSettings};

use crate::secrets::Keyring;
use outbound::OutboundPolicy;
use smsgate_actors::{
    domain::{ProviderConfig, ProviderKind},
    ports::{provider::ReportSink, ProviderError, ProviderErrorKind, ProviderFactory, SmsProvider},
    EngineError,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// Builds the client for a provider config. It keeps the mocks it built, by slug, so that tests
/// (and a future admin view) can see what the engine asked them to send.
pub struct Factory {
    keyring: Arc<Keyring>,
    /// smsgate's public address, for webhook URLs handed to providers (a provider's own
    /// `public_url` setting wins).
    public_url: Option<String>,
    /// What provider calls may reach; by default no loopback, private or metadata address.
    outbound: Arc<OutboundPolicy>,
    mocks: Mutex<HashMap<String, Arc<MockProvider>>>,
}

impl Factory {
    /// `keyring` opens each provider's stored credentials when its client is built.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            public_url: None,
            outbound: Arc::new(OutboundPolicy::default()),
            mocks: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the outbound policy (`outbound_allow`, and `https://` only in prod).
    pub fn with_outbound(mut self, outbound: OutboundPolicy) -> Self {
        self.outbound = Arc::new(outbound);
        self
    }

    /// Sets smsgate's public address, used for webhook URLs (`StatusCallback` and the like).
    pub fn with_public_url(mut self, public_url: Option<String>) -> Self {
        self.public_url = public_url;
        self
    }

    /// The provider's credentials in plain JSON (`{"apiKey": ...}`), for its client only: never
    /// logged, never returned. `Null` when none are stored.
    pub fn credentials(&self, config: &ProviderConfig) -> Result<serde_json::Value, ProviderError> {
        open_credentials(&self.keyring, config)
    }

    /// The mock most recently built for this slug (the engine rebuilds a provider when its
    /// config changes or its actor restarts).
    pub fn mock(&self, slug: &str) -> Option<Arc<MockProvider>> {
        self.mocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(slug)
            .cloned()
    }
}

/// Opens a provider's sealed credentials (see `Factory::credentials`); the webhooks use it too.
pub fn open_credentials(
    keyring: &Keyring,
    config: &ProviderConfig,
) -> Result<serde_json::Value, ProviderError> {
    match &config.credentials {
        None => Ok(serde_json::Value::Null),
        Some(sealed) => keyring.open(sealed).map_err(|err| {
            ProviderError::new(
                ProviderErrorKind::InvalidCredentials,
                format!("provider {}: {err}", config.slug),
            )
        }),
    }
}

impl ProviderFactory for Factory {
    fn build(
        &self,
        config: &ProviderConfig,
        reports: ReportSink,
    ) -> Result<Arc<dyn SmsProvider>, ProviderError> {
        match config.kind {
            ProviderKind::Mock => {
                let settings = MockSettings::from_json(&config.settings)?;
                let mock = Arc::new(MockProvider::new(&config.slug, settings, reports));
                // A map of plain values: a panic elsewhere cannot leave it half-updated.
                self.mocks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(config.slug.clone(), Arc::clone(&mock));
                tracing::info!(provider = %config.slug, kind = "MOCK", "built the mock provider");
                Ok(mock)
            }
            ProviderKind::Smso => {
                let credentials = self.credentials(config)?;
                let client = smso::Smso::new(
                    config,
                    &credentials,
                    self.public_url.as_deref(),
                    &self.outbound,
                )?;
                tracing::info!(provider = %config.slug, kind = "SMSO", "built the provider client");
                Ok(Arc::new(client))
            }
            ProviderKind::Twilio => {
                let credentials = self.credentials(config)?;
                let client = twilio::Twilio::new(
                    config,
                    &credentials,
                    self.public_url.as_deref(),
                    &self.outbound,
                )?;
                tracing::info!(provider = %config.slug, kind = "TWILIO", "built the provider client");
                Ok(Arc::new(client))
            }
            ProviderKind::Vonage => {
                let credentials = self.credentials(config)?;
                let client = vonage::Vonage::new(
                    config,
                    &credentials,
                    self.public_url.as_deref(),
                    &self.outbound,
                )?;
                tracing::info!(provider = %config.slug, kind = "VONAGE", "built the provider client");
                Ok(Arc::new(client))
            }
            ProviderKind::Http => {
                let credentials = self.credentials(config)?;
                let client = generic::Generic::new(config, &credentials, &self.outbound)?;
                tracing::info!(provider = %config.slug, kind = "HTTP", "built the provider client");
                Ok(Arc::new(client))
            }
        }
    }

    fn check(&self, config: &ProviderConfig) -> Result<(), EngineError> {
        check::check(config, &self.outbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use smsgate_actors::domain::ProviderId;

    fn config(kind: ProviderKind, settings: serde_json::Value) -> ProviderConfig {
        ProviderConfig {
            id: ProviderId::generate(),
            name: "Test".to_owned(),
            slug: "test".to_owned(),
            kind,
            is_active: true,
            is_default: true,
            priority: 0,
            features: Vec::new(),
            sender_id: None,
            api_base_url: None,
            credentials: None,
            api_key_hint: None,
            settings,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            webhook_secret: None,
        }
    }

    fn no_reports() -> ReportSink {
        Arc::new(|_| {})
    }

    fn factory() -> Factory {
        let key = Keyring::generate_key();
        Factory::new(Arc::new(Keyring::new([key.as_str()]).unwrap()))
    }

    #[test]
    fn a_mock_config_builds_a_mock_that_can_be_found_by_slug() {
        let factory = factory();
        let built = factory.build(
            &config(ProviderKind::Mock, serde_json::Value::Null),
            no_reports(),
        );
        assert!(built.is_ok());
        assert!(factory.mock("test").is_some());
        assert!(factory.mock("other").is_none());
    }

    #[test]
    fn real_kinds_are_built_from_their_sealed_credentials_and_refused_without_them() {
        let key = Keyring::generate_key();
        let keyring = Arc::new(Keyring::new([key.as_str()]).unwrap());
        let factory = Factory::new(keyring.clone());
        for (kind, creds) in [
            (ProviderKind::Smso, serde_json::json!({"apiKey": "k"})),
            (
                ProviderKind::Twilio,
                serde_json::json!({"accountSid": "AC1", "authToken": "t"}),
            ),
            (
                ProviderKind::Vonage,
                serde_json::json!({"apiKey": "k", "apiSecret": "s"}),
            ),
        ] {
            let mut c = config(kind, serde_json::json!({}));
            let Err(err) = factory.build(&c, no_reports()) else {
                panic!("{kind:?} was built without credentials");
            };
            assert_eq!(err.kind, ProviderErrorKind::InvalidCredentials);
            c.credentials = Some(keyring.seal(&creds));
            assert!(factory.build(&c, no_reports()).is_ok(), "{kind:?}");
        }
        let mut http = config(ProviderKind::Http, serde_json::json!({}));
        assert!(factory.build(&http, no_reports()).is_err(), "no URL");
        http.api_base_url = Some("http://127.0.0.1:9/sms".into());
        assert!(factory.build(&http, no_reports()).is_ok());
    }

    #[test]
    fn bad_mock_settings_are_refused_with_the_reason() {
        let factory = factory();
        let Err(err) = factory.build(
            &config(
                ProviderKind::Mock,
                serde_json::json!({"transient_failure_rate": 2.0}),
            ),
            no_reports(),
        ) else {
            panic!("built with a rate of 2.0");
        };
        assert_eq!(err.kind, ProviderErrorKind::Rejected);
        assert!(err.message.contains("transient_failure_rate"), "{err}");
    }
}
