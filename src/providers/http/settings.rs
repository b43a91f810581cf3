//! The settings every HTTP provider shares (timeouts, pacing, a price override, its public URL)
//! and the small readers of a provider's configuration: its settings JSON and its base URL.

use serde::Deserialize;
use smsgate_actors::{
    domain::{Money, ProviderConfig},
    ports::{ProviderError, ProviderErrorKind},
};

/// The settings every HTTP provider reads from its `settings` JSON (the engine reads its own
/// keys, such as `max_concurrency`, from the same object; unknown keys are left alone).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// How long opening a connection (TCP + TLS) may take.
    pub connect_timeout_ms: u64,
    /// How long a whole call may take. A send that times out may have gone out.
    pub request_timeout_ms: u64,
    /// Calls per second this client starts at most (`null`: no limit of ours).
    pub requests_per_second: Option<f64>,
    /// Overrides the provider's reported price: eurocents per SMS part.
    pub price_per_segment_cents: Option<f64>,
    /// The address the provider can reach smsgate at, for webhooks (overrides the global
    /// `public_url`), e.g. `https://sms.example.com`.
    pub public_url: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            request_timeout_ms: 15_000,
            requests_per_second: None,
            price_per_segment_cents: None,
            public_url: None,
        }
    }
}

impl HttpSettings {
    /// Where this provider's webhook calls us back (`{public_url}/webhooks/{kind}/{id}`, then
    /// `/{secret}` for a kind with a webhook secret), when a public URL is known: the
    /// provider's own, else smsgate's. None for a kind that needs a secret and has none: no
    /// URL would take its calls.
    pub fn webhook_url(
        &self,
        global_public_url: Option<&str>,
        kind: &str,
        config: &ProviderConfig,
    ) -> Option<String> {
        let path = match (&config.webhook_secret, config.kind.has_webhook_secret()) {
            (Some(secret), true) => format!("webhooks/{kind}/{}/{secret}", config.id),
            (None, true) => return None,
            (_, false) => format!("webhooks/{kind}/{}", config.id),
        };
        self.public_url
            .as_deref()
            .or(global_public_url)
            .map(|url| join(url, &path))
    }

    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let parsed: Self = parse_settings(settings, "provider")?;
        if parsed.request_timeout_ms == 0 || parsed.connect_timeout_ms == 0 {
            return Err(invalid_settings("timeouts must be more than 0 ms"));
        }
        if let Some(rps) = parsed.requests_per_second {
            if !(rps.is_finite() && rps > 0.0) {
                return Err(invalid_settings(format!(
                    "requests_per_second is {rps}, not a positive rate"
                )));
            }
        }
        if let Some(url) = &parsed.public_url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(invalid_settings(
                    "public_url must be an http:// or https:// URL",
                ));
            }
        }
        if let Some(price) = parsed.price_per_segment_cents {
            if !(price.is_finite() && price >= 0.0) {
                return Err(invalid_settings(format!(
                    "price_per_segment_cents is {price}, not a price"
                )));
            }
        }
        Ok(parsed)
    }

    /// The price override for `segments` parts, when one is configured.
    pub fn price_override(&self, segments: u32) -> Option<Money> {
        self.price_per_segment_cents
            .map(|p| Money::from_cents(p * f64::from(segments)))
    }
}

/// Reads one provider's settings struct; `null` means all defaults.
pub fn parse_settings<T: serde::de::DeserializeOwned + Default>(
    settings: &serde_json::Value,
    what: &str,
) -> Result<T, ProviderError> {
    if settings.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(settings.clone()).map_err(|err| {
        ProviderError::new(
            ProviderErrorKind::Rejected,
            format!("invalid {what} settings: {err}"),
        )
    })
}

pub fn invalid_settings(reason: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Rejected,
        format!("invalid provider settings: {reason}"),
    )
}

/// The configured base URL, or the provider's documented default.
pub fn base_url(config: &ProviderConfig, default: &str) -> String {
    config
        .api_base_url
        .clone()
        .unwrap_or_else(|| default.to_owned())
}

/// Joins a base URL and a path with exactly one slash.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
