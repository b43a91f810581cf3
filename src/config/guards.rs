//! The settings that keep hostile or broken clients from holding the server: HTTP header-read
//! and request timeouts, failed authentications per client address, and the `/graphql/ws`
//! limits (message size, `connection_init` timeout, connections per token, operations per
//! connection, how often an open connection's token is checked again).

use super::ConfigError;
use std::time::Duration;

/// Validated; see `defaults.toml` for what each one does. A count of 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    pub header_read_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub auth_failures_per_minute: u32,
    pub ws_max_message_bytes: usize,
    pub ws_init_timeout_ms: u64,
    pub ws_max_connections_per_token: u32,
    pub ws_max_subscriptions_per_connection: u32,
    pub ws_token_recheck_ms: u64,
}

impl GuardSettings {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn ws_init_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_init_timeout_ms)
    }

    pub fn ws_token_recheck(&self) -> Duration {
        Duration::from_millis(self.ws_token_recheck_ms)
    }

    /// Timeouts of 0 would refuse every request, and a message size of 0 every message.
    pub(super) fn validate(self) -> Result<Self, ConfigError> {
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("ws_init_timeout_ms", self.ws_init_timeout_ms),
            ("ws_token_recheck_ms", self.ws_token_recheck_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.ws_max_message_bytes < 1024 {
            return Err(ConfigError::invalid(
                "ws_max_message_bytes",
                format!(
                    "{} is below the 1024-byte minimum",
                    self.ws_max_message_bytes
                ),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_documented_defaults_apply_and_the_environment_sets_each_one() {
        let guards = Settings::load_from(None, Vec::new()).unwrap().guards;
        assert_eq!(guards.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(guards.request_timeout(), Duration::from_secs(30));
        assert_eq!(guards.auth_failures_per_minute, 20);
        assert_eq!(guards.ws_max_message_bytes, 65536);
        assert_eq!(guards.ws_init_timeout(), Duration::from_secs(10));
        assert_eq!(guards.ws_max_connections_per_token, 20);
        assert_eq!(guards.ws_max_subscriptions_per_connection, 50);
        assert_eq!(guards.ws_token_recheck(), Duration::from_secs(5));
        let set = Settings::load_from(
            None,
            env(&[
                ("SMSGATE_WS_INIT_TIMEOUT_MS", "250"),
                ("SMSGATE_AUTH_FAILURES_PER_MINUTE", "0"),
            ]),
        )
        .unwrap()
        .guards;
        assert_eq!(set.ws_init_timeout(), Duration::from_millis(250));
        assert_eq!(set.auth_failures_per_minute, 0);
    }

    #[test]
    fn a_zero_timeout_or_a_tiny_message_limit_is_refused_by_name() {
        for (key, value, named) in [
            ("SMSGATE_REQUEST_TIMEOUT_MS", "0", "request_timeout_ms"),
            ("SMSGATE_WS_TOKEN_RECHECK_MS", "0", "ws_token_recheck_ms"),
            ("SMSGATE_WS_MAX_MESSAGE_BYTES", "10", "ws_max_message_bytes"),
        ] {
            let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().starts_with(named), "{err}");
        }
    }
}
