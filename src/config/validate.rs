//! Settings::validate: each raw value checked and typed, with the one-line error naming the
//! setting that is wrong.

use super::{
    alerts, providers, ConfigError, GuardSettings, LogFormat, Mode, RawSettings, Settings,
};
use crate::secrets::SecretString;
use crate::{
    http::webhooks::WebhookLimits, providers::outbound::OutboundPolicy, rate_limit::LimitSettings,
};
use std::net::SocketAddr;

impl Settings {
    /// Checks and types every value; the first problem found is the error.
    pub(super) fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let listen = socket_addr("listen", &raw.listen)?;
        let internal_listen = socket_addr("internal_listen", &raw.internal_listen)?;
        if listen == internal_listen && listen.port() != 0 {
            return Err(ConfigError::invalid(
                "internal_listen",
                format!("must differ from listen ({listen}): the internal routes need their own listener"),
            ));
        }
        let mode = Mode::try_from(raw.mode.as_str())
            .map_err(|e| ConfigError::invalid("mode", e.to_string()))?;
        let log_format = LogFormat::try_from(raw.log_format.as_str())
            .map_err(|e| ConfigError::invalid("log_format", e.to_string()))?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        let public_url = raw.public_url.map(|url| public_url(&url)).transpose()?;
        let mongodb_uri = non_empty(raw.mongodb_uri).map(SecretString::new);
        if let Some(uri) = &mongodb_uri {
            if !(uri.expose().starts_with("mongodb://")
                || uri.expose().starts_with("mongodb+srv://"))
            {
                return Err(ConfigError::invalid(
                    "mongodb_uri",
                    "must start with mongodb:// or mongodb+srv://",
                ));
            }
        }
        let mongodb_database = mongodb_database(&raw.mongodb_database)?;
        let instance_id = non_empty(raw.instance_id).map(|id| id.trim().to_owned());
        if let Some(id) = &instance_id {
            let fits = id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !fits {
                return Err(ConfigError::invalid(
                    "instance_id",
                    "at most 64 letters, digits, '-', '_' or '.'",
                ));
            }
        }
        // Renewal runs every third of it: shorter would be renewal traffic, not safety.
        if raw.lease_ms < 300 {
            return Err(ConfigError::invalid(
                "lease_ms",
                format!("{} is below the 300 ms minimum", raw.lease_ms),
            ));
        }
        let encryption_keys: Vec<SecretString> = raw
            .encryption_keys
            .into_iter()
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .map(SecretString::new)
            .collect();
        let admin_token = non_empty(raw.admin_token).map(SecretString::new);
        let service_token = non_empty(raw.service_token).map(SecretString::new);
        if let (Some(admin), Some(service)) = (&admin_token, &service_token) {
            if admin == service {
                return Err(ConfigError::invalid(
                    "service_token",
                    "must differ from admin_token, or every service would be an admin",
                ));
            }
        }
        if mode == Mode::Prod {
            // Dev mode generates these; prod must be told, so a restart never changes them.
            if encryption_keys.is_empty() {
                return Err(ConfigError::invalid(
                    "encryption_keys",
                    "required in prod mode: one or more Fernet keys, the first encrypts",
                ));
            }
            if admin_token.is_none() {
                return Err(ConfigError::invalid("admin_token", "required in prod mode"));
            }
            if service_token.is_none() {
                return Err(ConfigError::invalid(
                    "service_token",
                    "required in prod mode",
                ));
            }
        }
        if raw.max_attempts == 0 {
            return Err(ConfigError::invalid("max_attempts", "must be at least 1"));
        }
        if raw.retry_base_ms == 0 {
            return Err(ConfigError::invalid("retry_base_ms", "must be at least 1"));
        }
        if raw.retry_max_ms < raw.retry_base_ms {
            return Err(ConfigError::invalid(
                "retry_max_ms",
                format!(
                    "{} is less than retry_base_ms ({})",
                    raw.retry_max_ms, raw.retry_base_ms
                ),
            ));
        }
        // 255 parts is the ceiling of concatenated SMS (an 8-bit part count in the UDH).
        if !(1..=255).contains(&raw.max_segments) {
            return Err(ConfigError::invalid(
                "max_segments",
                format!("{} is outside 1..=255", raw.max_segments),
            ));
        }
        if raw.max_body_bytes == 0 {
            return Err(ConfigError::invalid("max_body_bytes", "must be at least 1"));
        }
        for (key, value) in [
            (
                "graphql_max_mutation_fields",
                raw.graphql_max_mutation_fields,
            ),
            ("graphql_max_query_fields", raw.graphql_max_query_fields),
        ] {
            if !(1..=1000).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{value} is outside 1..=1000"),
                ));
            }
        }
        let providers = providers::validate(raw.providers)?;
        let outbound = OutboundPolicy::new(&raw.outbound_allow, mode == Mode::Prod)
            .map_err(|e| ConfigError::invalid("outbound_allow", e.to_string()))?;
        let mut alerts = alerts::validate(raw.alerts)?;
        if let Some(webhook) = &mut alerts.webhook {
            // An address literal is refused now; a name is checked on what it resolves to.
            outbound
                .check_str(&webhook.url, false)
                .map_err(|e| ConfigError::invalid("alerts.webhook.url", e.to_string()))?;
            webhook.outbound = outbound.clone();
        }
        let guards = GuardSettings {
            header_read_timeout_ms: raw.header_read_timeout_ms,
            request_timeout_ms: raw.request_timeout_ms,
            auth_failures_per_minute: raw.auth_failures_per_minute,
            ws_max_message_bytes: raw.ws_max_message_bytes,
            ws_init_timeout_ms: raw.ws_init_timeout_ms,
            ws_max_connections_per_token: raw.ws_max_connections_per_token,
            ws_max_subscriptions_per_connection: raw.ws_max_subscriptions_per_connection,
            ws_token_recheck_ms: raw.ws_token_recheck_ms,
        }
        .validate()?;
        Ok(Self {
            listen,
            internal_listen,
            data_dir: raw.data_dir,
            mongodb_uri,
            mongodb_database,
            instance_id,
            lease_ms: raw.lease_ms,
            log_retention_days: (raw.log_retention_days > 0).then_some(raw.log_retention_days),
            encryption_keys,
            admin_token,
            service_token,
            mode,
            log_format,
            public_url,
            max_attempts: raw.max_attempts,
            retry_base_ms: raw.retry_base_ms,
            retry_max_ms: raw.retry_max_ms,
            max_segments: raw.max_segments,
            shutdown_grace_ms: raw.shutdown_grace_ms,
            max_body_bytes: raw.max_body_bytes,
            providers,
            limits: LimitSettings {
                per_token_per_second: raw.rate_limit_per_second,
                per_token_burst: raw.rate_limit_burst,
                otp_per_recipient_per_hour: raw.otp_per_recipient_per_hour,
                transactional_per_recipient_per_hour: raw.transactional_per_recipient_per_hour,
                marketing_per_recipient_per_hour: raw.marketing_per_recipient_per_hour,
                spend_per_token_per_day_cents: raw.spend_limit_per_token_per_day_cents,
            },
            root_fields: smsgate_graphql::RootFieldLimits {
                mutation_fields: raw.graphql_max_mutation_fields,
                query_fields: raw.graphql_max_query_fields,
            },
            webhook_limits: WebhookLimits {
                per_client_per_second: raw.webhook_rate_limit_per_client,
                per_provider_per_second: raw.webhook_rate_limit_per_provider,
            },
            alerts,
            guards,
            outbound,
        })
    }
}

fn socket_addr(key: &'static str, raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.trim().parse().map_err(|_| {
        ConfigError::invalid(
            key,
            format!("`{raw}` is not an address and port such as 127.0.0.1:8080"),
        )
    })
}

fn public_url(raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(ConfigError::invalid(
            "public_url",
            format!("`{raw}` is not an http(s) URL such as https://sms.example.com"),
        )),
    }
}

/// MongoDB's rules for a database name: not empty, shorter than 64 bytes, none of `/\. "$`.
fn mongodb_database(raw: &str) -> Result<String, ConfigError> {
    let name = raw.trim();
    if name.is_empty() || name.len() >= 64 || name.contains(['/', '\\', '.', ' ', '"', '$']) {
        return Err(ConfigError::invalid(
            "mongodb_database",
            format!("`{raw}` is not a MongoDB database name (1-63 bytes, none of /\\. \"$)"),
        ));
    }
    Ok(name.to_owned())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
