//! Alerts that reach a person: the rules (pure), the lifecycle of each alert (fire once, repeat
//! after a cool-down, resolve), and the Alerts actor that feeds them and hands notices to sinks.
//!
//! # Layout
//! - `config`: thresholds, windows, cool-down and tick, each with a sensible default.
//! - `observe`: what the actor has seen on the updates bus, in time buckets (no I/O).
//! - `rules`: which conditions hold now, from the observations and the providers' health.
//! - `lifecycle`: turns the conditions of each tick into firing / repeated / resolved notices.
//! - `actor`: the Alerts actor and its bus of notices.

pub mod actor;
pub mod config;
pub mod lifecycle;
pub mod observe;
pub mod rules;

pub use actor::{AlertBus, Alerts, AlertsArgs, AlertsMsg};
pub use config::AlertsConfig;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The rules smsgate watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// Balance below an amount, or below some hours of sending at the recent rate.
    LowCredit,
    /// A provider's failed share of attempts over a window is above a threshold.
    HighFailureRate,
    /// Circuit open, balance checks failing, or the provider actor down, for too long.
    ProviderDown,
    /// The last hour's volume is far above the same hour on recent days.
    UnusualVolume,
    /// Many OTPs within minutes to numbers sharing all but their last digits.
    OtpBurst,
    /// A provider refused our credentials or said we are out of credit: the admin must act.
    ProviderRejected,
}

impl AlertRule {
    pub const ALL: [AlertRule; 6] = [
        Self::LowCredit,
        Self::HighFailureRate,
        Self::ProviderDown,
        Self::UnusualVolume,
        Self::OtpBurst,
        Self::ProviderRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowCredit => "low_credit",
            Self::HighFailureRate => "high_failure_rate",
            Self::ProviderDown => "provider_down",
            Self::UnusualVolume => "unusual_volume",
            Self::OtpBurst => "otp_burst",
            Self::ProviderRejected => "provider_rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Firing, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Warning, Self::Critical]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

/// One notice about one alert. An alert (a rule about a subject, such as a provider slug or a
/// country prefix) has one `id` for all its notices: the first firing (`notice` 0), the repeats
/// while it holds, and the resolved notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: String,
    /// 0 for the first firing, counting up through the repeats to the resolved notice.
    pub notice: u32,
    pub rule: AlertRule,
    /// What the alert is about: a provider slug, a country prefix (`+40`), a number range
    /// (`+407551234xx`), or `all`.
    pub subject: String,
    pub state: AlertState,
    pub severity: Severity,
    pub message: String,
    pub fired_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The figures behind the decision (rates, counts, thresholds).
    pub details: serde_json::Value,
}

/// Which notices `alert_history` returns: newest first, at most `limit`, older than `before`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertQuery {
    pub rule: Option<AlertRule>,
    pub state: Option<AlertState>,
    /// Only notices strictly older than this (`at`, then `id` and `notice`), for paging.
    pub before: Option<AlertCursor>,
    pub limit: usize,
}

/// A position in the history, newest first: (`at`, `id`, `notice`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCursor {
    pub at: DateTime<Utc>,
    pub id: String,
    pub notice: u32,
}

impl AlertCursor {
    pub fn of(alert: &Alert) -> Self {
        Self {
            at: alert.at,
            id: alert.id.clone(),
            notice: alert.notice,
        }
    }

    /// Whether `alert` comes after this cursor in newest-first order.
    pub fn is_before(&self, alert: &Alert) -> bool {
        (alert.at, alert.id.as_str(), alert.notice) < (self.at, self.id.as_str(), self.notice)
    }
}

impl AlertQuery {
    /// The filter, for backends that filter in memory.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.rule.is_none_or(|r| r == alert.rule)
            && self.state.is_none_or(|s| s == alert.state)
            && self.before.as_ref().is_none_or(|c| c.is_before(alert))
    }
}

/// Sorts newest first, the order of `alert_history`.
pub fn newest_first(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    (b.at, b.id.as_str(), b.notice).cmp(&(a.at, a.id.as_str(), a.notice))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rejected;
