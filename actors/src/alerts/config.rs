//! The alert rules' thresholds and timing. Every rule is on by default; `disabled` turns rules
//! off by name.

use super::AlertRule;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often the rules are evaluated, in milliseconds. At most 15 s by default so that a
    /// person is told within a minute of a condition's threshold being crossed.
    pub tick_ms: u64,
    /// A firing alert is repeated at most this often while its condition holds, in seconds.
    pub cooldown_s: u64,
    /// Rules turned off, by name (`low_credit`, `high_failure_rate`, `provider_down`,
    /// `unusual_volume`, `otp_burst`, `provider_rejected`).
    pub disabled: Vec<String>,

    /// Low credit: a balance below this many eurocents...
    pub low_credit_cents: f64,
    /// ...or below this many hours of sending at the rate of the last `spend_window_s`.
    pub low_credit_hours: f64,
    pub spend_window_s: u64,

    /// High failure rate: failed share of a provider's attempts over `failure_window_s`...
    pub failure_rate: f64,
    pub failure_window_s: u64,
    /// ...once it has made at least this many attempts in the window (1 of 1 is no trend).
    pub failure_min_attempts: u64,

    /// Provider down: circuit not closed, balance checks failing or its actor down for this
    /// long, in seconds.
    pub provider_down_after_s: u64,

    /// Unusual volume: the last hour's messages are more than `volume_factor` times the same
    /// hour's average over the previous `baseline_days` days...
    pub volume_factor: f64,
    /// ...and at least this many (a quiet hour doubling is not fraud).
    pub volume_min: u64,
    pub baseline_days: u32,
    /// Days of history needed before the baseline is trusted.
    pub baseline_min_days: u32,

    /// OTP burst: at least `otp_burst_numbers` distinct numbers that share all but their last
    /// `otp_range_digits` digits received an OTP within `otp_window_s`.
    pub otp_burst_numbers: usize,
    pub otp_range_digits: usize,
    pub otp_window_s: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            tick_ms: 15_000,
            cooldown_s: 1_800,
            disabled: Vec::new(),
            low_credit_cents: 500.0,
            low_credit_hours: 24.0,
            spend_window_s: 3_600,
            failure_rate: 0.25,
            failure_window_s: 900,
            failure_min_attempts: 20,
            provider_down_after_s: 30,
            volume_factor: 5.0,
            volume_min: 100,
            baseline_days: 7,
            baseline_min_days: 3,
            otp_burst_numbers: 10,
            otp_range_digits: 2,
            otp_window_s: 300,
        }
    }
}

impl AlertsConfig {
    pub fn is_enabled(&self, rule: AlertRule) -> bool {
        !self
            .disabled
            .iter()
            .any(|d| d.trim().eq_ignore_ascii_case(rule.as_str()))
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(1))
    }

    pub fn cooldown(&self) -> chrono::Duration {
        secs(self.cooldown_s)
    }

    /// How far back the rules look, so older observations can be dropped.
    pub fn horizons(&self) -> super::observe::Horizons {
        let hour = chrono::Duration::hours(1);
        super::observe::Horizons {
            providers: secs(self.failure_window_s.max(self.spend_window_s)) + hour,
            volume: chrono::Duration::days(i64::from(self.baseline_days)) + hour * 2,
            otps: secs(self.otp_window_s),
        }
    }

    /// The first setting that makes no sense, as (key, reason).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(unknown) = self
            .disabled
            .iter()
            .find(|d| AlertRule::parse(d.trim()).is_none())
        {
            return Some((
                "alerts.disabled",
                format!("{unknown:?} is not a rule; the rules are low_credit, high_failure_rate, provider_down, unusual_volume, otp_burst, provider_rejected"),
            ));
        }
        if self.tick_ms == 0 {
            return Some(("alerts.tick_ms", "must be at least 1".into()));
        }
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            return Some(("alerts.failure_rate", "must be in (0, 1]".into()));
        }
        if self.volume_factor.is_nan() || self.volume_factor < 1.0 {
            return Some(("alerts.volume_factor", "must be at least 1".into()));
        }
        if self.baseline_min_days > self.baseline_days || self.baseline_days == 0 {
            return Some((
                "alerts.baseline_min_days",
                "must be between 0 and baseline_days, which must be at least 1".into(),
            ));
        }
        if !(1..=6).contains(&self.otp_range_digits) {
            return Some(("alerts.otp_range_digits", "must be in 1..=6".into()));
        }
        if self.otp_burst_numbers < 2 {
            return Some(("alerts.otp_burst_numbers", "must be at least 2".into()));
        }
        if self.low_credit_cents < 0.0 || self.low_credit_hours < 0.0 {
            return Some(("alerts.low_credit_cents", "must not be negative".into()));
        }
        None
    }
}

pub(crate) fn secs(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1_000_000))
}
