//! The `[alerts]` section: the rules' thresholds (`smsgate_actors::alerts::AlertsConfig`) and
//! the `[alerts.webhook]` sink. The webhook URL and secret may come from the environment
//! (`SMSGATE_ALERTS_WEBHOOK_URL`, `SMSGATE_ALERTS_WEBHOOK_SECRET`).

use super::ConfigError;
use crate::alerts::webhook::WebhookSettings;
use crate::secrets::SecretString;
use serde::Deserialize;
use smsgate_actors::alerts::AlertsConfig;
use std::time::Duration;

/// Environment variables (after the `SMSGATE_` prefix, lower case) and the webhook key each sets.
const ENV: &[(&str, &str)] = &[
    ("alerts_webhook_url", "url"),
    ("alerts_webhook_secret", "secret"),
];

#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub rules: AlertsConfig,
    /// `None` when no URL is configured: alerts go to the log and GraphQL only.
    pub webhook: Option<WebhookSettings>,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    secret: Option<String>,
    max_attempts: u32,
    timeout_ms: u64,
    backoff_base_ms: u64,
    backoff_max_ms: u64,
    queue: usize,
}

impl Default for RawWebhook {
    fn default() -> Self {
        Self {
            url: None,
            secret: None,
            max_attempts: 6,
            timeout_ms: 5_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            queue: 1_000,
        }
    }
}

/// Puts an `SMSGATE_ALERTS_WEBHOOK_*` variable into the merged table; false when `key` is not
/// one of them. An empty value unsets the key.
pub(super) fn apply_env(table: &mut toml::Table, key: &str, value: &str) -> bool {
    let Some((_, field)) = ENV.iter().find(|(k, _)| *k == key) else {
        return false;
    };
    let alerts = table
        .entry("alerts")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(alerts) = alerts {
        let webhook = alerts
            .entry("webhook")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(webhook) = webhook {
            if value.is_empty() {
                webhook.remove(*field);
            } else {
                webhook.insert((*field).to_owned(), toml::Value::String(value.to_owned()));
            }
        }
    }
    true
}

fn toml_error(source: toml::de::Error) -> ConfigError {
    ConfigError::Toml {
        place: String::new(),
        source,
    }
}

/// Checks and types the `[alerts]` table (absent: every default).
pub(super) fn validate(raw: Option<toml::Table>) -> Result<AlertSettings, ConfigError> {
    let mut table = raw.unwrap_or_default();
    let webhook: RawWebhook = match table.remove("webhook") {
        Some(value) => value.try_into().map_err(toml_error)?,
        None => RawWebhook::default(),
    };
    let rules: AlertsConfig = toml::Value::Table(table).try_into().map_err(toml_error)?;
    if let Some((key, reason)) = rules.problem() {
        return Err(ConfigError::invalid(key, reason));
    }
    let url = webhook
        .url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    let secret = webhook.secret.filter(|s| !s.trim().is_empty());
    let webhook =
        match (url, secret) {
            (None, _) => None,
            (Some(_), None) => return Err(ConfigError::invalid(
                "alerts.webhook.secret",
                "required when alerts.webhook.url is set: receivers verify the signature with it",
            )),
            (Some(url), Some(secret)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::invalid(
                        "alerts.webhook.url",
                        "must start with http:// or https://",
                    ));
                }
                if webhook.max_attempts == 0 || webhook.queue == 0 || webhook.timeout_ms == 0 {
                    return Err(ConfigError::invalid(
                        "alerts.webhook",
                        "max_attempts, queue and timeout_ms must be at least 1",
                    ));
                }
                Some(WebhookSettings {
                    url,
                    secret: SecretString::new(secret),
                    max_attempts: webhook.max_attempts,
                    timeout: Duration::from_millis(webhook.timeout_ms),
                    backoff_base: Duration::from_millis(webhook.backoff_base_ms.max(1)),
                    backoff_max: Duration::from_millis(
                        webhook.backoff_max_ms.max(webhook.backoff_base_ms.max(1)),
                    ),
                    queue: webhook.queue,
                    // Set from `outbound_allow` once the whole configuration is read.
                    outbound: Default::default(),
                })
            }
        };
    Ok(AlertSettings { rules, webhook })
}

/// Scheme and host of a URL: its path and query may carry a token.
fn shown_url(url: &str) -> String {
    url.split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}/…", rest.split('/').next().unwrap_or("")))
        .unwrap_or_default()
}

impl AlertSettings {
    /// The start-up banner's line: where alerts go.
    pub fn summary(&self) -> String {
        let rules = smsgate_actors::alerts::AlertRule::ALL
            .iter()
            .filter(|r| self.rules.is_enabled(**r))
            .count();
        match &self.webhook {
            Some(w) => format!(
                "alerts: {rules} rules, every {} ms, to the log, GraphQL and the webhook {}",
                self.rules.tick_ms,
                shown_url(&w.url)
            ),
            None => format!(
                "alerts: {rules} rules, every {} ms, to the log and GraphQL (no webhook url set)",
                self.rules.tick_ms
            ),
        }
    }

    /// For `config check`: the rules as set, the webhook's secret only as set or not.
    pub fn redacted(&self) -> toml::Value {
        let mut table = toml::Value::try_from(&self.rules)
            .ok()
            .and_then(|v| v.as_table().cloned())
            .unwrap_or_default();
        let mut webhook = toml::Table::new();
        match &self.webhook {
            None => {
                webhook.insert("url".into(), toml::Value::String("[not set]".into()));
            }
            Some(w) => {
                webhook.insert("url".into(), toml::Value::String(shown_url(&w.url)));
                webhook.insert("secret".into(), toml::Value::String("[redacted]".into()));
                webhook.insert(
                    "max_attempts".into(),
                    toml::Value::Integer(i64::from(w.max_attempts)),
                );
            }
        }
        table.insert("webhook".into(), toml::Value::Table(webhook));
        toml::Value::Table(table)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;

    #[test]
    fn alerts_default_on_and_the_file_and_environment_set_them() {
        let s = Settings::load_from(None, Vec::new()).unwrap();
        assert_eq!(s.alerts.rules.tick_ms, 15_000);
        assert!(s.alerts.webhook.is_none());
        let file = "[alerts]\ncooldown_s = 60\n[alerts.webhook]\nurl = \"https://hooks.example.com/a?token=zz\"\n";
        let env = vec![(
            "SMSGATE_ALERTS_WEBHOOK_SECRET".to_owned(),
            "s3cret-value".to_owned(),
        )];
        let s = Settings::load_from(Some(file), env).unwrap();
        assert_eq!(s.alerts.rules.cooldown_s, 60);
        assert_eq!(
            s.alerts.rules.failure_min_attempts, 20,
            "unset keys keep defaults"
        );
        let w = s.alerts.webhook.clone().unwrap();
        assert_eq!(w.url, "https://hooks.example.com/a?token=zz");
        assert_eq!(w.secret.expose(), "s3cret-value");
        assert_eq!(w.max_attempts, 6);
        let printed = s.redacted_toml();
        assert!(
            !printed.contains("s3cret-value") && !printed.contains("token=zz"),
            "{printed}"
        );
    }

    #[test]
    fn bad_alert_settings_are_refused_naming_the_setting() {
        let err = |file: &str| {
            Settings::load_from(Some(file), Vec::new())
                .unwrap_err()
                .to_string()
        };
        assert!(err("[alerts.webhook]\nurl = \"https://x\"\n").contains("alerts.webhook.secret"));
        assert!(err("[alerts]\ndisabled = [\"nope\"]\n").contains("alerts.disabled"));
        assert!(err("[alerts]\nfailure_rate = 2.0\n").contains("alerts.failure_rate"));
        assert!(err("[alerts]\nno_such_key = 1\n").contains("no_such_key"));
    }
}
