//! MockSettings: the mock's behaviour as read (and checked) from its provider settings JSON.

use serde::Deserialize;
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};

/// The mock's behaviour, read from the provider's `settings` JSON. Every key is optional; keys
/// it does not know (the engine's own, such as `max_concurrency`) are left to their owners.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MockSettings {
    /// How long each call (send, status, balance) takes, in milliseconds.
    pub latency_ms: u64,
    /// Share of sends, 0.0 to 1.0, that fail as a provider outage (`Unavailable`, retried).
    pub transient_failure_rate: f64,
    /// Share of sends, 0.0 to 1.0, that fail as a bad number (`InvalidRecipient`, final).
    /// With `transient_failure_rate`, at most 1.0 in total.
    pub permanent_failure_rate: f64,
    /// How long after an accepted send its delivery report arrives, in milliseconds.
    pub delivery_delay_ms: u64,
    /// Share of delivery reports, 0.0 to 1.0, that say UNDELIVERED instead of DELIVERED.
    pub undelivered_rate: f64,
    /// `false`: never send a delivery report; messages stay SENT, as with a provider whose
    /// webhooks are lost.
    pub deliver: bool,
    /// The credit to start from, in eurocents; `null` for unlimited. Each send lowers it by its
    /// price, and a send it cannot pay for fails with `InsufficientCredit`.
    pub starting_balance_cents: Option<f64>,
    /// What one SMS part costs, in eurocents (fractions allowed, as real providers bill).
    pub price_per_segment_cents: f64,
    /// Seeds the RNG behind the failure shares and the ids, for outcomes that repeat run to run.
    pub seed: Option<u64>,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            transient_failure_rate: 0.0,
            permanent_failure_rate: 0.0,
            delivery_delay_ms: 0,
            undelivered_rate: 0.0,
            deliver: true,
            starting_balance_cents: None,
            price_per_segment_cents: 1.0,
            seed: None,
        }
    }
}

impl MockSettings {
    /// Parses and checks the settings; `null` means all defaults. A bad value is refused (kind
    /// `Rejected`) with the key in the message, rather than silently replaced.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let parsed: Self = if settings.is_null() {
            Self::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|err| {
                ProviderError::new(
                    ProviderErrorKind::Rejected,
                    format!("invalid mock settings: {err}"),
                )
                .with_source(err)
            })?
        };
        parsed.validate()?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), ProviderError> {
        let refuse = |reason: String| {
            Err(ProviderError::new(
                ProviderErrorKind::Rejected,
                format!("invalid mock settings: {reason}"),
            ))
        };
        for (key, rate) in [
            ("transient_failure_rate", self.transient_failure_rate),
            ("permanent_failure_rate", self.permanent_failure_rate),
            ("undelivered_rate", self.undelivered_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return refuse(format!("{key} is {rate}, not between 0.0 and 1.0"));
            }
        }
        if self.transient_failure_rate + self.permanent_failure_rate > 1.0 {
            return refuse(
                "transient_failure_rate and permanent_failure_rate add up to more than 1.0"
                    .to_owned(),
            );
        }
        if !(self.price_per_segment_cents.is_finite() && self.price_per_segment_cents >= 0.0) {
            return refuse(format!(
                "price_per_segment_cents is {}, not a price",
                self.price_per_segment_cents
            ));
        }
        if let Some(balance) = self.starting_balance_cents {
            if !(balance.is_finite() && balance >= 0.0) {
                return refuse(format!(
                    "starting_balance_cents is {balance}, not a balance"
                ));
            }
        }
        Ok(())
    }
}
