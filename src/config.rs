//! Settings: compiled-in defaults → optional `smsgate.toml` → `SMSGATE_*` variables → validated.
//!
//! Every option is documented in `src/config/defaults.toml`. Loading is split so that tests
//! never touch the process: [`Settings::load_from`] takes the file's text and the environment
//! as values; [`Settings::load`] reads the real ones.

pub mod alerts;
pub mod providers;

pub use alerts::AlertSettings;
pub use providers::DeclaredProvider;

use crate::rate_limit::LimitSettings;
use anyhow::Context;
use serde::Deserialize;
use std::{
    fmt,
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

/// A secret string (a token, a key, a connection string with a password). `Debug` never shows
/// it and there is no `Display`, so it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; call it only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

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
    /// Per-token and per-recipient rate limits (0 turns one off).
    pub limits: LimitSettings,
    /// `[alerts]`: rule thresholds and the webhook sink.
    pub alerts: AlertSettings,
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
    #[serde(default)]
    providers: Vec<providers::RawProvider>,
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    otp_per_recipient_per_hour: u32,
    transactional_per_recipient_per_hour: u32,
    marketing_per_recipient_per_hour: u32,
    alerts: Option<toml::Table>,
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum EnvKind {
    Text,
    Integer,
    List,
}

/// Every setting the environment may set: its key, and how to read the variable's text.
const ENV_KEYS: &[(&str, EnvKind)] = &[
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
    ("rate_limit_per_second", EnvKind::Integer),
    ("rate_limit_burst", EnvKind::Integer),
    ("otp_per_recipient_per_hour", EnvKind::Integer),
    ("transactional_per_recipient_per_hour", EnvKind::Integer),
    ("marketing_per_recipient_per_hour", EnvKind::Integer),
];

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

    /// Checks and types every value; the first problem found is the error.
    fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
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
        let mongodb_uri = non_empty(raw.mongodb_uri).map(SecretString);
        if let Some(uri) = &mongodb_uri {
            if !(uri.0.starts_with("mongodb://") || uri.0.starts_with("mongodb+srv://")) {
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
            .map(SecretString)
            .collect();
        let admin_token = non_empty(raw.admin_token).map(SecretString);
        let service_token = non_empty(raw.service_token).map(SecretString);
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
        let providers = providers::validate(raw.providers)?;
        let alerts = alerts::validate(raw.alerts)?;
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
            },
            alerts,
        })
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

fn parse_table(text: &str, origin: &'static str) -> Result<toml::Table, ConfigError> {
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

fn env_value(key: &'static str, kind: EnvKind, value: &str) -> Result<toml::Value, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load_err(file: Option<&str>, pairs: &[(&str, &str)]) -> String {
        match Settings::load_from(file, env(pairs)) {
            Ok(settings) => panic!("expected an error, got {settings:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn with_nothing_configured_the_documented_defaults_apply() {
        let settings = Settings::load_from(None, Vec::new()).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(settings.internal_listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("./smsgate-data"));
        assert_eq!(settings.mode, Mode::Dev);
        assert_eq!(settings.log_format, LogFormat::Pretty);
        assert!(settings.mongodb_uri.is_none());
        assert_eq!(settings.mongodb_database, "smsgate");
        assert!(settings.encryption_keys.is_empty());
        assert!(settings.admin_token.is_none() && settings.service_token.is_none());
        assert!(settings.public_url.is_none());
        assert_eq!(settings.max_attempts, 5);
        assert_eq!(settings.retry_base(), Duration::from_secs(1));
        assert_eq!(settings.retry_max(), Duration::from_secs(60));
        assert_eq!(settings.max_segments, 10);
        assert_eq!(settings.shutdown_grace(), Duration::from_secs(10));
        assert_eq!(settings.max_body_bytes, 1_048_576);
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = r#"
            listen = "0.0.0.0:9000"
            internal_listen = "127.0.0.1:9001"
            max_attempts = 3
            admin_token = "from-file"
        "#;
        let settings = Settings::load_from(
            Some(file),
            env(&[
                ("SMSGATE_LISTEN", "0.0.0.0:9100"),
                ("SMSGATE_MAX_ATTEMPTS", "7"),
                ("SMSGATE_ENCRYPTION_KEYS", "k1, k2,"),
                ("SMSGATE_MODE", "PROD"),
                ("SMSGATE_SERVICE_TOKEN", "svc"),
                ("SMSGATE_PUBLIC_URL", "https://sms.example.com/"),
                ("SMSGATE_MONGODB_URI", "mongodb://db/smsgate"),
                ("SMSGATE_MONGODB_DATABASE", "sms_eu"),
                ("HOME", "/root"),
                ("SMSGATE_SOMETHING_NEW", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9100".parse().unwrap());
        assert_eq!(settings.internal_listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(settings.max_attempts, 7);
        assert_eq!(settings.mode, Mode::Prod);
        assert_eq!(settings.admin_token.unwrap().expose(), "from-file");
        assert_eq!(settings.service_token.unwrap().expose(), "svc");
        let keys: Vec<&str> = settings
            .encryption_keys
            .iter()
            .map(SecretString::expose)
            .collect();
        assert_eq!(keys, ["k1", "k2"]);
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://sms.example.com")
        );
        assert_eq!(
            settings.mongodb_uri.unwrap().expose(),
            "mongodb://db/smsgate"
        );
        assert_eq!(settings.mongodb_database, "sms_eu");
    }

    #[test]
    fn an_empty_variable_unsets_a_value_from_the_file() {
        let settings = Settings::load_from(
            Some(r#"admin_token = "from-file""#),
            env(&[("SMSGATE_ADMIN_TOKEN", "")]),
        )
        .unwrap();
        assert!(settings.admin_token.is_none());
    }

    #[test]
    fn bad_values_are_refused_in_one_line_naming_the_setting() {
        /// The file's text, the environment, and what the one-line error must say.
        type Case = (
            Option<&'static str>,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: &[Case] = &[
            (
                None,
                &[("SMSGATE_LISTEN", "localhost")],
                "listen (SMSGATE_LISTEN): `localhost` is not an address and port",
            ),
            (
                None,
                &[("SMSGATE_MODE", "staging")],
                "mode (SMSGATE_MODE): unknown mode `staging`: use `dev` or `prod`",
            ),
            (
                None,
                &[("SMSGATE_LOG_FORMAT", "xml")],
                "log_format (SMSGATE_LOG_FORMAT): unknown log format `xml`",
            ),
            (
                None,
                &[("SMSGATE_MAX_ATTEMPTS", "five")],
                "max_attempts (SMSGATE_MAX_ATTEMPTS): `five` is not a whole number",
            ),
            (
                None,
                &[("SMSGATE_MAX_ATTEMPTS", "0")],
                "max_attempts (SMSGATE_MAX_ATTEMPTS): must be at least 1",
            ),
            (
                None,
                &[("SMSGATE_RETRY_MAX_MS", "10")],
                "retry_max_ms (SMSGATE_RETRY_MAX_MS): 10 is less than retry_base_ms (1000)",
            ),
            (
                None,
                &[("SMSGATE_PUBLIC_URL", "sms.example.com")],
                "public_url (SMSGATE_PUBLIC_URL): `sms.example.com` is not an http(s) URL",
            ),
            (
                None,
                &[("SMSGATE_INTERNAL_LISTEN", "127.0.0.1:8080")],
                "internal_listen (SMSGATE_INTERNAL_LISTEN): must differ from listen",
            ),
            (
                None,
                &[
                    ("SMSGATE_ADMIN_TOKEN", "same"),
                    ("SMSGATE_SERVICE_TOKEN", "same"),
                ],
                "service_token (SMSGATE_SERVICE_TOKEN): must differ from admin_token",
            ),
            (
                None,
                &[("SMSGATE_MONGODB_DATABASE", "sms.gate")],
                "mongodb_database (SMSGATE_MONGODB_DATABASE): `sms.gate` is not a MongoDB database name",
            ),
            (
                None,
                &[("SMSGATE_MODE", "prod")],
                "encryption_keys (SMSGATE_ENCRYPTION_KEYS): required in prod mode",
            ),
            (
                None,
                &[("SMSGATE_MODE", "prod"), ("SMSGATE_ENCRYPTION_KEYS", "k")],
                "admin_token (SMSGATE_ADMIN_TOKEN): required in prod mode",
            ),
            (
                Some("lisen = \"0.0.0.0:1\""),
                &[],
                "invalid configuration: unknown field `lisen`",
            ),
            (
                Some("max_attempts = 5\nlisten = \n"),
                &[],
                "invalid configuration in smsgate.toml at line 2: ",
            ),
            (
                Some("max_attempts = \"five\""),
                &[],
                "invalid configuration: invalid type: string \"five\"",
            ),
        ];
        for (file, pairs, expected) in cases {
            let message = load_err(*file, pairs);
            assert!(
                message.contains(expected),
                "for {pairs:?} / {file:?}:\n  got      {message}\n  expected {expected}"
            );
            assert!(!message.contains('\n'), "not one line: {message}");
        }
    }

    #[test]
    fn mode_is_read_from_its_names() {
        assert_eq!(Mode::try_from("dev").unwrap(), Mode::Dev);
        assert_eq!(Mode::try_from(" Production ").unwrap(), Mode::Prod);
        assert!(Mode::try_from("").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_or_in_the_printed_config() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("SMSGATE_ADMIN_TOKEN", "admin-s3cret"),
                ("SMSGATE_SERVICE_TOKEN", "service-s3cret"),
                ("SMSGATE_ENCRYPTION_KEYS", "key-s3cret"),
                ("SMSGATE_MONGODB_URI", "mongodb://user:db-s3cret@db/smsgate"),
            ]),
        )
        .unwrap();
        let debug = format!("{settings:?}");
        let printed = settings.redacted_toml();
        for shown in [&debug, &printed] {
            assert!(!shown.contains("s3cret"), "a secret leaked: {shown}");
            assert!(shown.contains("[redacted]"));
        }
        assert!(printed.contains("listen = \"127.0.0.1:8080\""));
    }

    #[test]
    fn the_printed_config_reads_back_as_toml() {
        let settings = Settings::load_from(None, Vec::new()).unwrap();
        let table: toml::Table = settings.redacted_toml().parse().unwrap();
        assert_eq!(table["max_attempts"].as_integer(), Some(5));
        assert_eq!(table["admin_token"].as_str(), Some("[not set]"));
    }

    #[test]
    fn the_named_file_wins_over_the_environment_and_the_default_file() {
        let explicit = Path::new("/etc/smsgate.toml");
        let from_env = Path::new("/srv/smsgate.toml");
        assert_eq!(
            config_path(Some(explicit), Some(from_env)).as_deref(),
            Some(explicit)
        );
        assert_eq!(config_path(None, Some(from_env)).as_deref(), Some(from_env));
    }
}
