//! Settings from `SMSGATE_*` variables: which keys the environment may set, and how a
//! variable's text becomes a TOML value.

use super::ConfigError;

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
pub(super) enum EnvKind {
    Text,
    Integer,
    List,
}

/// Every setting the environment may set: its key, and how to read the variable's text.
pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("listen", EnvKind::Text),
    ("internal_listen", EnvKind::Text),
    ("data_dir", EnvKind::Text),
    ("mongodb_uri", EnvKind::Text),
    ("mongodb_database", EnvKind::Text),
    ("instance_id", EnvKind::Text),
    ("lease_ms", EnvKind::Integer),
    ("log_retention_days", EnvKind::Integer),
    ("encryption_keys", EnvKind::List),
    ("admin_token", EnvKind::Text),
    ("service_token", EnvKind::Text),
    ("mode", EnvKind::Text),
    ("log_format", EnvKind::Text),
    ("public_url", EnvKind::Text),
    ("max_attempts", EnvKind::Integer),
    ("retry_base_ms", EnvKind::Integer),
    ("retry_max_ms", EnvKind::Integer),
    ("max_segments", EnvKind::Integer),
    ("shutdown_grace_ms", EnvKind::Integer),
    ("max_body_bytes", EnvKind::Integer),
    ("outbound_allow", EnvKind::List),
    ("rate_limit_per_second", EnvKind::Integer),
    ("rate_limit_burst", EnvKind::Integer),
    ("otp_per_recipient_per_hour", EnvKind::Integer),
    ("transactional_per_recipient_per_hour", EnvKind::Integer),
    ("marketing_per_recipient_per_hour", EnvKind::Integer),
    ("spend_limit_per_token_per_day_cents", EnvKind::Integer),
    ("graphql_max_mutation_fields", EnvKind::Integer),
    ("graphql_max_query_fields", EnvKind::Integer),
    ("header_read_timeout_ms", EnvKind::Integer),
    ("request_timeout_ms", EnvKind::Integer),
    ("auth_failures_per_minute", EnvKind::Integer),
    ("ws_max_message_bytes", EnvKind::Integer),
    ("ws_init_timeout_ms", EnvKind::Integer),
    ("ws_max_connections_per_token", EnvKind::Integer),
    ("ws_max_subscriptions_per_connection", EnvKind::Integer),
    ("ws_token_recheck_ms", EnvKind::Integer),
    ("webhook_rate_limit_per_client", EnvKind::Integer),
    ("webhook_rate_limit_per_provider", EnvKind::Integer),
];

pub(super) fn env_value(
    key: &'static str,
    kind: EnvKind,
    value: &str,
) -> Result<toml::Value, ConfigError> {
    Ok(match kind {
        EnvKind::Text => toml::Value::String(value.to_owned()),
        EnvKind::Integer => {
            toml::Value::Integer(value.parse().map_err(|_| {
                ConfigError::invalid(key, format!("`{value}` is not a whole number"))
            })?)
        }
        EnvKind::List => toml::Value::Array(
            value
                .split(',')
                .map(|item| toml::Value::String(item.trim().to_owned()))
                .collect(),
        ),
    })
}
