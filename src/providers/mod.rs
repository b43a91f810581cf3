//! Concrete SMS providers and the factory that builds one for each stored provider config.
//!
//! Only the mock is in this build; a config of another kind is refused with a clear message
//! rather than given a stub that would pretend to send.

pub mod mock;

pub use mock::{MockProvider, MockSettings};

use crate::secrets::Keyring;
use smsgate_actors::{
    domain::{ProviderConfig, ProviderKind},
    ports::{provider::ReportSink, ProviderError, ProviderErrorKind, ProviderFactory, SmsProvider},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// Builds the client for a provider config. It keeps the mocks it built, by slug, so that tests
/// (and a future admin view) can see what the engine asked them to send.
pub struct Factory {
    keyring: Arc<Keyring>,
    mocks: Mutex<HashMap<String, Arc<MockProvider>>>,
}

impl Factory {
    /// `keyring` opens each provider's stored credentials when its client is built.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            mocks: Mutex::new(HashMap::new()),
        }
    }

    /// The provider's credentials in plain JSON (`{"apiKey": ...}`), for its client only: never
    /// logged, never returned. `Null` when none are stored.
    pub fn credentials(&self, config: &ProviderConfig) -> Result<serde_json::Value, ProviderError> {
        match &config.credentials {
            None => Ok(serde_json::Value::Null),
            Some(sealed) => self.keyring.open(sealed).map_err(|err| {
                ProviderError::new(
                    ProviderErrorKind::InvalidCredentials,
                    format!("provider {}: {err}", config.slug),
                )
            }),
        }
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
            ProviderKind::Smso
            | ProviderKind::Twilio
            | ProviderKind::Vonage
            | ProviderKind::Http => Err(ProviderError::new(
                ProviderErrorKind::Rejected,
                format!(
                    "provider kind {} is not available in this build yet",
                    config.kind.as_str()
                ),
            )),
        }
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
    fn kinds_without_an_adapter_are_refused_by_name() {
        let factory = factory();
        for kind in [
            ProviderKind::Smso,
            ProviderKind::Twilio,
            ProviderKind::Vonage,
            ProviderKind::Http,
        ] {
            let Err(err) = factory.build(&config(kind, serde_json::json!({})), no_reports()) else {
                panic!("{kind:?} was built");
            };
            assert_eq!(err.kind, ProviderErrorKind::Rejected);
            assert_eq!(
                err.message,
                format!(
                    "provider kind {} is not available in this build yet",
                    kind.as_str()
                )
            );
        }
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
