//! Settings: compiled-in defaults → optional `smsgate.toml` → `SMSGATE_*` variables → validated.
//!
//! Every option is documented in `src/config/defaults.toml`. Loading is split so that tests
//! never touch the process: [`Settings::load_from`] takes the file's text and the environment
//! as values; [`Settings::load`] reads the real ones.

pub mod alerts;
mod env;
mod file;
pub mod guards;
pub mod providers;
#[cfg(test)]
mod tests;
mod validate;

pub use alerts::AlertSettings;
pub use file::config_path;
pub use guards::GuardSettings;
pub use providers::DeclaredProvider;

use crate::rate_limit::LimitSettings;
use crate::secrets::SecretString;
use anyhow::Context;
use env::{env_value, EnvKind, ENV_KEYS};
use file::parse_table;
use serde::Deserialize;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// The documented defaults, compiled in so the binary runs with no file at all.
pub const DEFAULTS: &str = include_str!("config/defaults.toml");

/// The file read when neither `--config` nor `SMSGATE_CONFIG` names one, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "smsgate.toml";

/// Names the configuration file; read by [`Settings::load`], not a setting itself.
pub const CONFIG_ENV: &str = "SMSGATE_CONFIG";

const ENV_PREFIX: &str = "SMSGATE_";

/// How strict start-up is about what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Generates missing keys, tokens and a mock provider, and says so.
    Dev,
    /// Refuses to start when anything is missing.
    Prod,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Prod => "prod",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown mode `{0}`: use `dev` or `prod`")]
pub struct UnknownMode(String);

impl TryFrom<&str> for Mode {
    type Error = UnknownMode;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Self::Dev),
            "prod" | "production" => Ok(Self::Prod),
            _ => Err(UnknownMode(raw.to_owned())),
        }
    }
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown log format `{0}`: use `pretty` or `json`")]
pub struct UnknownLogFormat(String);

impl TryFrom<&str> for LogFormat {
    type Error = UnknownLogFormat;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(raw.to_owned())),
        }
    }
}

/// Why the configuration was refused. Each variant displays as one line that names the setting
/// both ways (`listen` / `SMSGATE_LISTEN`), so it can be fixed in whichever place it was set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `place` is empty, or says where (` in smsgate.toml at line 3`) when it is known.
    #[error("invalid configuration{place}: {}", .source.message().trim().replace('\n', "; "))]
    Toml {
        place: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{key} (SMSGATE_{}): {reason}", .key.to_ascii_uppercase())]
    Invalid { key: &'static str, reason: String },
}

impl ConfigError {
    fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            reason: reason.into(),
        }
    }
}

/// The effective configuration, validated. Field names are the keys of `defaults.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub internal_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Selects MongoDB when set; secret because it usually carries a password.
    pub mongodb_uri: Option<SecretString>,
    /// The database smsgate uses on the MongoDB server; one per deployment.
    pub mongodb_database: String,
    /// This process's name among instances sharing one MongoDB database; generated when unset.
    pub instance_id: Option<String>,
    /// How long a message stays with its instance without renewal (several instances on MongoDB).
    pub lease_ms: u64,
    /// Days a message is kept in MongoDB before the server deletes it; `None` keeps it.
    pub log_retention_days: Option<u32>,
    /// Fernet keys, first encrypts, all decrypt. Their shape is checked by the keyring.
    pub encryption_keys: Vec<SecretString>,
    pub admin_token: Option<SecretString>,
    pub service_token: Option<SecretString>,
    pub mode: Mode,
    pub log_format: LogFormat,
    /// Without a trailing slash, so routes can be appended.
    pub public_url: Option<String>,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub max_segments: u32,
    pub shutdown_grace_ms: u64,
    pub max_body_bytes: usize,
    /// `[[providers]]` from the file, created at start-up when their slug is not stored yet.
    pub providers: Vec<DeclaredProvider>,
    /// Per-token and per-recipient rate limits and the spend ceiling (0 turns one off).
    pub limits: LimitSettings,
    /// How many root fields (aliases included) one GraphQL operation may hold.
    pub root_fields: smsgate_graphql::RootFieldLimits,
    /// Receipts per second the webhook routes take per client address and per provider.
    pub webhook_limits: crate::http::webhooks::WebhookLimits,
    /// `[alerts]`: rule thresholds and the webhook sink.
    pub alerts: AlertSettings,
    /// Timeouts, failed authentications per address and the `/graphql/ws` limits.
    pub guards: GuardSettings,
    /// `outbound_allow`, read: which non-public hosts provider and webhook calls may reach, and
    /// (prod) that provider URLs are https://.
    pub outbound: crate::providers::outbound::OutboundPolicy,
}

/// The merged table as written, before each value is checked and typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    listen: String,
    internal_listen: String,
    data_dir: PathBuf,
    mongodb_uri: Option<String>,
    mongodb_database: String,
    instance_id: Option<String>,
    lease_ms: u64,
    log_retention_days: u32,
    encryption_keys: Vec<String>,
    admin_token: Option<String>,
    service_token: Option<String>,
    mode: String,
    log_format: String,
    public_url: Option<String>,
    max_attempts: u32,
    retry_base_ms: u64,
    retry_max_ms: u64,
    max_segments: u32,
    shutdown_grace_ms: u64,
    max_body_bytes: usize,
    outbound_allow: Vec<String>,
    #[serde(default)]
    providers: Vec<providers::RawProvider>,
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    otp_per_recipient_per_hour: u32,
    transactional_per_recipient_per_hour: u32,
    marketing_per_recipient_per_hour: u32,
    spend_limit_per_token_per_day_cents: u64,
    graphql_max_mutation_fields: usize,
    graphql_max_query_fields: usize,
    webhook_rate_limit_per_client: u32,
    webhook_rate_limit_per_provider: u32,
    alerts: Option<toml::Table>,
    header_read_timeout_ms: u64,
    request_timeout_ms: u64,
    auth_failures_per_minute: u32,
    ws_max_message_bytes: usize,
    ws_init_timeout_ms: u64,
    ws_max_connections_per_token: u32,
    ws_max_subscriptions_per_connection: u32,
    ws_token_recheck_ms: u64,
}

impl Settings {
    /// Reads the real configuration: the file named by `config` (`--config`), else by
    /// `SMSGATE_CONFIG`, else `./smsgate.toml` when it exists; then the process environment.
    pub fn load(config: Option<&Path>) -> anyhow::Result<Self> {
        let env_path = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let file = match config_path(config, env_path.as_deref()) {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?,
            ),
            None => None,
        };
        // Variables that are not valid UTF-8 cannot be one of ours; skip them rather than fail.
        let env = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)));
        Ok(Self::load_from(file.as_deref(), env)?)
    }

    /// Merges the defaults, the text of a `smsgate.toml` (if any) and the given environment,
    /// then validates. Variables without the `SMSGATE_` prefix, and unknown `SMSGATE_*` ones,
    /// are ignored, so the whole process environment can be passed.
    pub fn load_from(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = parse_table(DEFAULTS, "the compiled-in defaults")?;
        if let Some(file) = file {
            // The file is flat, so a shallow merge is a complete one.
            table.extend(parse_table(file, "smsgate.toml")?);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if alerts::apply_env(&mut table, &key, value.trim()) {
                continue;
            }
            let Some(&(key, kind)) = ENV_KEYS.iter().find(|(known, _)| *known == key) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                // An empty variable is how shells and compose files say "unset".
                if matches!(kind, EnvKind::Text) {
                    table.remove(key);
                }
                continue;
            }
            table.insert(key.to_owned(), env_value(key, kind, value)?);
        }
        let raw: RawSettings =
            toml::Value::Table(table)
                .try_into()
                .map_err(|source| ConfigError::Toml {
                    // Merged values have no line of their own to point at.
                    place: String::new(),
                    source,
                })?;
        Self::validate(raw)
    }

    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.retry_base_ms)
    }

    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}
