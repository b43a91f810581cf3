//! What every HTTP provider shares: the settings common to all of them (`settings`), one way to
//! build the reqwest client (rustls, pooled connections, explicit timeouts, a user agent), a
//! token bucket for requests per second, one call on the wire (`exchange`), and the one
//! classifier from HTTP status / transport error to `ProviderErrorKind` (`errors`).
//!
//! Error messages built here never carry a secret: no URL (a generic provider's URL may hold a
//! key), no header, no answer body (some providers echo the key back). Text taken from an
//! answer (a provider's error message) is cut to [`MAX_DETAIL_CHARS`], and answers are read up
//! to [`MAX_ANSWER_BYTES`]: a provider URL pointed somewhere else cannot fill `message.error`
//! with what it returned.

#[cfg(test)]
pub(crate) mod cases;
mod errors;
mod exchange;
mod settings;

pub use errors::{
    classify_status, excerpt, malformed, retry_after, status_error, transport_error, Call,
    DEFAULT_RETRY_AFTER, MAX_DETAIL_CHARS,
};
pub use exchange::{exchange, Answer, MAX_ANSWER_BYTES};
pub use settings::{base_url, invalid_settings, join, parse_settings, HttpSettings};

use super::outbound::{GuardedClient, OutboundPolicy};
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

/// Sent on every provider call, so a provider's support can tell our traffic apart.
const USER_AGENT: &str = concat!("smsgate/", env!("CARGO_PKG_VERSION"));

/// One pooled client per provider, with the timeouts from its settings, under the outbound
/// policy (no redirects, forbidden addresses refused).
pub fn client(
    settings: &HttpSettings,
    policy: &Arc<OutboundPolicy>,
) -> Result<GuardedClient, ProviderError> {
    let builder = || {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(90))
    };
    GuardedClient::build(builder, policy.clone(), true).map_err(|err| {
        ProviderError::new(
            ProviderErrorKind::Rejected,
            "could not build the HTTP client",
        )
        .with_source(err.without_url())
    })
}

/// A token bucket: `rate` calls per second, bursts up to one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate: Option<f64>) -> Option<Self> {
        rate.map(|rate| Self {
            rate,
            state: Mutex::new((rate.max(1.0), Instant::now())),
        })
    }

    /// Waits until a call may start.
    pub async fn acquire(limiter: Option<&Self>) {
        let Some(limiter) = limiter else {
            return;
        };
        loop {
            let wait = {
                let mut state = limiter
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let burst = limiter.rate.max(1.0);
                let elapsed = now.saturating_duration_since(state.1).as_secs_f64();
                state.0 = (state.0 + elapsed * limiter.rate).min(burst);
                state.1 = now;
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.0) / limiter.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests;
