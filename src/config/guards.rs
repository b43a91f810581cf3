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
