//! The TOML side of the settings: finding the file, parsing a table with the line of an error,
//! and printing the effective settings back as redacted TOML.

use super::{ConfigError, DeclaredProvider, Settings, DEFAULT_CONFIG_FILE};
use std::path::{Path, PathBuf};

impl Settings {
    /// The effective configuration as TOML, secrets shown only as whether they are set: what
    /// `smsgate config check` prints, safe to paste into an issue.
    pub fn redacted_toml(&self) -> String {
        fn secret(set: bool) -> toml::Value {
            toml::Value::String(if set { "[redacted]" } else { "[not set]" }.to_owned())
        }
        fn int(value: impl TryInto<i64>) -> toml::Value {
            toml::Value::Integer(value.try_into().unwrap_or(i64::MAX))
        }
        let mut table = toml::Table::new();
        let mut put = |key: &str, value: toml::Value| {
            table.insert(key.to_owned(), value);
        };
        put("listen", toml::Value::String(self.listen.to_string()));
        put(
            "internal_listen",
            toml::Value::String(self.internal_listen.to_string()),
        );
        put(
            "public_url",
            toml::Value::String(
                self.public_url
                    .clone()
                    .unwrap_or_else(|| "[not set]".to_owned()),
            ),
        );
        put(
            "data_dir",
            toml::Value::String(self.data_dir.display().to_string()),
        );
        put("mongodb_uri", secret(self.mongodb_uri.is_some()));
        put(
            "mongodb_database",
            toml::Value::String(self.mongodb_database.clone()),
        );
        put(
            "instance_id",
            toml::Value::String(
                self.instance_id
                    .clone()
                    .unwrap_or_else(|| "[generated at start]".to_owned()),
            ),
        );
        put(
            "log_retention_days",
            toml::Value::Integer(i64::from(self.log_retention_days.unwrap_or(0))),
        );
        put(
            "lease_ms",
            toml::Value::Integer(i64::try_from(self.lease_ms).unwrap_or(i64::MAX)),
        );
        put(
            "encryption_keys",
            toml::Value::String(format!("[{} redacted]", self.encryption_keys.len())),
        );
        put("admin_token", secret(self.admin_token.is_some()));
        put("service_token", secret(self.service_token.is_some()));
        put("mode", toml::Value::String(self.mode.as_str().to_owned()));
        put(
            "log_format",
            toml::Value::String(self.log_format.as_str().to_owned()),
        );
        put("max_attempts", int(self.max_attempts));
        put("retry_base_ms", int(self.retry_base_ms));
        put("retry_max_ms", int(self.retry_max_ms));
        put("max_segments", int(self.max_segments));
        put("shutdown_grace_ms", int(self.shutdown_grace_ms));
        put("max_body_bytes", int(self.max_body_bytes));
        put(
            "outbound_allow",
            toml::Value::Array(
                self.outbound
                    .listed()
                    .iter()
                    .map(|e| toml::Value::String(e.clone()))
                    .collect(),
            ),
        );
        if !self.providers.is_empty() {
            let declared = self.providers.iter().map(DeclaredProvider::redacted);
            put("providers", toml::Value::Array(declared.collect()));
        }
        put(
            "rate_limit_per_second",
            int(self.limits.per_token_per_second),
        );
        put("rate_limit_burst", int(self.limits.per_token_burst));
        put(
            "otp_per_recipient_per_hour",
            int(self.limits.otp_per_recipient_per_hour),
        );
        put(
            "transactional_per_recipient_per_hour",
            int(self.limits.transactional_per_recipient_per_hour),
        );
        put(
            "marketing_per_recipient_per_hour",
            int(self.limits.marketing_per_recipient_per_hour),
        );
        put(
            "spend_limit_per_token_per_day_cents",
            int(self.limits.spend_per_token_per_day_cents),
        );
        put(
            "graphql_max_mutation_fields",
            int(self.root_fields.mutation_fields),
        );
        put(
            "graphql_max_query_fields",
            int(self.root_fields.query_fields),
        );
        let g = &self.guards;
        put("header_read_timeout_ms", int(g.header_read_timeout_ms));
        put("request_timeout_ms", int(g.request_timeout_ms));
        put("auth_failures_per_minute", int(g.auth_failures_per_minute));
        put("ws_max_message_bytes", int(g.ws_max_message_bytes));
        put("ws_init_timeout_ms", int(g.ws_init_timeout_ms));
        put(
            "ws_max_connections_per_token",
            int(g.ws_max_connections_per_token),
        );
        put(
            "ws_max_subscriptions_per_connection",
            int(g.ws_max_subscriptions_per_connection),
        );
        put("ws_token_recheck_ms", int(g.ws_token_recheck_ms));
        put(
            "webhook_rate_limit_per_client",
            int(self.webhook_limits.per_client_per_second),
        );
        put(
            "webhook_rate_limit_per_provider",
            int(self.webhook_limits.per_provider_per_second),
        );
        put("alerts", self.alerts.redacted());
        toml::to_string(&table).unwrap_or_default()
    }
}

/// Which file to read: the explicit one, else the one the environment names, else
/// `./smsgate.toml` when it exists. `None`: run on defaults and the environment alone.
pub fn config_path(explicit: Option<&Path>, from_env: Option<&Path>) -> Option<PathBuf> {
    explicit
        .or(from_env.filter(|p| !p.as_os_str().is_empty()))
        .map(Path::to_path_buf)
        .or_else(|| {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            default.is_file().then_some(default)
        })
}

pub(super) fn parse_table(text: &str, origin: &'static str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|source| {
        let line = source
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| before.matches('\n').count() + 1);
        let place = match line {
            Some(line) => format!(" in {origin} at line {line}"),
            None => format!(" in {origin}"),
        };
        ConfigError::Toml { place, source }
    })
}
