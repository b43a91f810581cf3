//! Checks a provider configuration before it is stored, with the adapters' own parsers and the
//! outbound policy, so that what a client build would refuse is refused to the admin
//! (INVALID_INPUT naming the field) on GraphQL, REST and the command line alike.

use super::{
    generic::GenericSettings,
    http::{self, HttpSettings},
    outbound::OutboundPolicy,
    smso::SmsoSettings,
    twilio::TwilioSettings,
    vonage::VonageSettings,
    MockSettings,
};
use serde_json::{Map, Value};
use smsgate_actors::{
    domain::{ProviderConfig, ProviderKind},
    ports::ProviderError,
    EngineError,
};

/// Every settings key an adapter reads, as the field an error names.
const FIELDS: &[&str] = &[
    "settings.connect_timeout_ms",
    "settings.request_timeout_ms",
    "settings.requests_per_second",
    "settings.price_per_segment_cents",
    "settings.public_url",
    "settings.url",
    "settings.method",
    "settings.headers",
    "settings.body_template",
    "settings.content_type",
    "settings.message_id_pointer",
    "settings.error_pointer",
    "settings.transient_statuses",
    "settings.credit_unit",
    "settings.messaging_service_sid",
    "settings.signature_method",
    "settings.latency_ms",
    "settings.transient_failure_rate",
    "settings.permanent_failure_rate",
    "settings.delivery_delay_ms",
    "settings.undelivered_rate",
    "settings.deliver",
    "settings.starting_balance_cents",
    "settings.seed",
];

fn field(key: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|f| f.strip_prefix("settings.") == Some(key))
        .copied()
        .unwrap_or("settings")
}

/// The adapter's own reading of `settings` for `kind`, without credentials.
fn parse(kind: ProviderKind, settings: &Value) -> Result<(), ProviderError> {
    match kind {
        ProviderKind::Mock => MockSettings::from_json(settings).map(drop),
        ProviderKind::Smso => {
            HttpSettings::from_json(settings)?;
            http::parse_settings::<SmsoSettings>(settings, "SMSO").map(drop)
        }
        ProviderKind::Twilio => {
            HttpSettings::from_json(settings)?;
            http::parse_settings::<TwilioSettings>(settings, "Twilio").map(drop)
        }
        ProviderKind::Vonage => {
            HttpSettings::from_json(settings)?;
            VonageSettings::from_json(settings).map(drop)
        }
        ProviderKind::Http => {
            HttpSettings::from_json(settings)?;
            GenericSettings::from_json(settings).map(drop)
        }
    }
}

/// Refuses the settings when the adapter would, naming the key: each key is tried alone, and
/// the first that the adapter refuses by itself is the field; a refusal of keys together (two
/// failure rates adding up past 1.0) names `settings`.
fn check_settings(kind: ProviderKind, settings: &Value) -> Result<(), EngineError> {
    let Err(whole) = parse(kind, settings) else {
        return Ok(());
    };
    if let Value::Object(map) = settings {
        for (key, value) in map {
            let alone = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
            if let Err(err) = parse(kind, &alone) {
                // Header values may hold a pasted secret: their errors do not quote them.
                let reason = if key == "headers" {
                    "must be an object of header names to header values".to_owned()
                } else {
                    err.message
                };
                return Err(EngineError::invalid(field(key), reason));
            }
        }
    }
    Err(EngineError::invalid("settings", whole.message))
}

/// The whole check: settings, then every URL the provider will call (the API base URL and a
/// generic provider's `url`) against the outbound policy.
pub fn check(config: &ProviderConfig, policy: &OutboundPolicy) -> Result<(), EngineError> {
    check_settings(config.kind, &config.settings)?;
    if config.kind == ProviderKind::Mock {
        return Ok(());
    }
    if let Some(url) = &config.api_base_url {
        policy
            .check_str(url, true)
            .map_err(|refusal| EngineError::invalid("apiBaseUrl", refusal.to_string()))?;
    }
    if config.kind == ProviderKind::Http {
        let own = GenericSettings::from_json(&config.settings)
            .map_err(|err| EngineError::invalid("settings", err.message))?;
        if let Some(url) = &own.url {
            policy
                .check_str(url, true)
                .map_err(|refusal| EngineError::invalid("settings.url", refusal.to_string()))?;
        }
        own.target(config.api_base_url.as_deref())
            .map_err(|err| EngineError::invalid("settings.url", err.message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid_field(kind: ProviderKind, settings: Value) -> &'static str {
        match check_settings(kind, &settings) {
            Err(EngineError::InvalidInput { field, .. }) => field,
            other => panic!("{settings} was not refused: {other:?}"),
        }
    }

    #[test]
    fn each_bad_setting_is_refused_naming_its_key() {
        for (kind, settings, expected) in [
            (
                ProviderKind::Smso,
                json!({"request_timeout_ms": 0}),
                "settings.request_timeout_ms",
            ),
            (
                ProviderKind::Smso,
                json!({"max_concurrency": 4, "credit_unit": "dollars"}),
                "settings.credit_unit",
            ),
            (
                ProviderKind::Twilio,
                json!({"requests_per_second": -1.0}),
                "settings.requests_per_second",
            ),
            (
                ProviderKind::Vonage,
                json!({"signature_method": "md5hash"}),
                "settings.signature_method",
            ),
            (
                ProviderKind::Http,
                json!({"url": "https://sms.example.com/", "method": "BREW"}),
                "settings.method",
            ),
            (
                ProviderKind::Http,
                json!({"url": "https://sms.example.com/", "error_pointer": ""}),
                "settings.error_pointer",
            ),
            (
                ProviderKind::Http,
                json!({"url": "https://sms.example.com/", "headers": {"X-Key": "a\nb"}}),
                "settings.headers",
            ),
            (
                ProviderKind::Mock,
                json!({"transient_failure_rate": 2.0}),
                "settings.transient_failure_rate",
            ),
            (
                ProviderKind::Mock,
                json!({"transient_failure_rate": 0.6, "permanent_failure_rate": 0.6}),
                "settings",
            ),
        ] {
            assert_eq!(
                invalid_field(kind, settings.clone()),
                expected,
                "{settings}"
            );
        }
    }

    fn config(kind: ProviderKind, url: Option<&str>, settings: Value) -> ProviderConfig {
        ProviderConfig {
            id: smsgate_actors::domain::ProviderId::generate(),
            name: "P".to_owned(),
            slug: "p".to_owned(),
            kind,
            is_active: true,
            is_default: true,
            priority: 0,
            features: Vec::new(),
            sender_id: None,
            api_base_url: url.map(str::to_owned),
            credentials: None,
            api_key_hint: None,
            settings,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            webhook_secret: None,
        }
    }

    fn refused_field(config: &ProviderConfig, policy: &OutboundPolicy) -> Option<&'static str> {
        match check(config, policy) {
            Ok(()) => None,
            Err(EngineError::InvalidInput { field, .. }) => Some(field),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn plain_http_provider_urls_are_refused_in_prod_unless_listed() {
        let prod = OutboundPolicy::new(&["relay.internal"], true).unwrap();
        let dev = OutboundPolicy::new::<&str>(&[], false).unwrap();
        let plain = config(
            ProviderKind::Smso,
            Some("http://sms.example.com/api/v1/"),
            json!({}),
        );
        assert_eq!(refused_field(&plain, &prod), Some("apiBaseUrl"));
        assert_eq!(refused_field(&plain, &dev), None);
        let tls = config(
            ProviderKind::Smso,
            Some("https://sms.example.com/api/v1/"),
            json!({}),
        );
        assert_eq!(refused_field(&tls, &prod), None);
        let listed = config(
            ProviderKind::Smso,
            Some("http://relay.internal:8080/"),
            json!({}),
        );
        assert_eq!(refused_field(&listed, &prod), None);
        let generic = config(
            ProviderKind::Http,
            None,
            json!({"url": "http://sms.example.com/"}),
        );
        assert_eq!(refused_field(&generic, &prod), Some("settings.url"));
        let nowhere = config(ProviderKind::Http, None, json!({}));
        assert_eq!(refused_field(&nowhere, &dev), Some("settings.url"));
    }

    #[test]
    fn good_settings_and_engine_keys_pass() {
        for (kind, settings) in [
            (
                ProviderKind::Smso,
                json!({"max_concurrency": 4, "credit_unit": "euros"}),
            ),
            (ProviderKind::Mock, json!({"latency_ms": 5})),
            (
                ProviderKind::Http,
                json!({"url": "https://sms.example.com/send", "method": "put"}),
            ),
        ] {
            assert!(check_settings(kind, &settings).is_ok(), "{settings}");
        }
    }
}
