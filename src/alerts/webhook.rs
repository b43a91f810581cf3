//! The webhook alert sink: each notice is POSTed as JSON to a configured URL, signed with
//! HMAC-SHA256, and retried with exponential backoff and jitter.
//!
//! - Signature: `X-Smsgate-Signature: t=<unix seconds>,v1=<hex>` where the hex is
//!   HMAC-SHA256(secret, `<t>.<body>`). A receiver recomputes it over the raw body, compares in
//!   constant time, and refuses an old `t` (replays): see [`verify`].
//! - Retries: a transport error, a timeout, 429 or a 5xx is tried again, up to `max_attempts`
//!   in all; any other answer ends that notice (the receiver refuses it; retrying will not help).
//! - Bounded: notices wait in a queue of `queue` places; when a dead receiver lets it fill, new
//!   notices are dropped (and logged) rather than grow memory. They stay in `alertHistory`.
//! - The secret is never logged, nor put in an error.
//! - Outbound policy: no redirects, and a URL that is or resolves to a loopback, private or
//!   metadata address is refused unless listed in `outbound_allow` (see `providers::outbound`).

use crate::{
    metrics::AlertSeries,
    providers::outbound::{client::SendError, GuardedClient, OutboundPolicy},
    secrets::SecretString,
};
use hmac::Mac;
use smsgate_actors::{alerts::Alert, ports::AlertSink};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub const SIGNATURE_HEADER: &str = "X-Smsgate-Signature";

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub secret: SecretString,
    /// Tries per notice, the first included.
    pub max_attempts: u32,
    /// Each try's time limit.
    pub timeout: Duration,
    /// The wait before the first retry; it doubles per retry, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Notices that may wait for delivery.
    pub queue: usize,
    /// Which addresses the URL may reach (`outbound_allow`).
    pub outbound: OutboundPolicy,
}

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    Some(format!(
        "t={timestamp},v1={}",
        hex(&mac(secret, timestamp, body)?)
    ))
}

/// `None` only if the MAC refused the key, which HMAC (any key length) never does.
fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Option<Vec<u8>> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac.finalize().into_bytes().to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a signature header the way a receiver should: the MAC over `<t>.<body>` in constant
/// time, and `t` within `tolerance` of `now` (unix seconds) so a captured request cannot be
/// replayed later.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance {
        return false;
    }
    let Some(expected) = mac(secret, t, body).map(|m| hex(&m)) else {
        return false;
    };
    signatures.iter().any(|s| {
        use subtle::ConstantTimeEq;
        s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// The sink the Alerts actor is given: `notify` only queues; a task delivers.
pub struct WebhookSink {
    tx: mpsc::Sender<Arc<Alert>>,
    metrics: Option<AlertSeries>,
}

impl WebhookSink {
    /// Starts the delivery task; it ends when the sink is dropped and the queue is empty.
    pub fn start(settings: WebhookSettings) -> Result<Arc<Self>, reqwest::Error> {
        Self::start_counted(settings, None)
    }

    /// As `start`, counting each notice's outcome in `metrics`.
    pub fn start_counted(
        settings: WebhookSettings,
        metrics: Option<AlertSeries>,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let client = client(&settings)?;
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        tokio::spawn(deliver_all(client, settings, rx, metrics.clone()));
        Ok(Arc::new(Self { tx, metrics }))
    }
}

impl AlertSink for WebhookSink {
    fn notify(&self, alert: Arc<Alert>) {
        if let Err(err) = self.tx.try_send(alert) {
            let alert = match &err {
                mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => a,
            };
            tracing::error!(alert.id = %alert.id, alert.rule = alert.rule.as_str(), "the alert webhook's queue is full: this notice is not sent (it is in alertHistory)");
            if let Some(metrics) = &self.metrics {
                metrics.webhook_delivery("dropped");
            }
        }
    }
}

/// The client notices go out through: the settings' timeout, under the outbound policy.
pub fn client(settings: &WebhookSettings) -> Result<GuardedClient, reqwest::Error> {
    let builder = || {
        reqwest::Client::builder()
            .user_agent(concat!("smsgate/", env!("CARGO_PKG_VERSION"), " alerts"))
            .timeout(settings.timeout)
    };
    GuardedClient::build(builder, Arc::new(settings.outbound.clone()), false)
}

/// What became of one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        attempts: u32,
    },
    /// The receiver refused it with this status; not retried.
    Refused {
        status: u16,
        attempts: u32,
    },
    GaveUp {
        attempts: u32,
    },
}

impl Delivery {
    /// The `outcome` label of `smsgate_alert_webhook_deliveries_total`.
    pub fn outcome(self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Refused { .. } => "refused",
            Self::GaveUp { .. } => "gave_up",
        }
    }
}

async fn deliver_all(
    client: GuardedClient,
    settings: WebhookSettings,
    mut rx: mpsc::Receiver<Arc<Alert>>,
    metrics: Option<AlertSeries>,
) {
    while let Some(alert) = rx.recv().await {
        let delivery = deliver(&client, &settings, &alert).await;
        if let Some(metrics) = &metrics {
            metrics.webhook_delivery(delivery.outcome());
        }
        match delivery {
            Delivery::Delivered { attempts } => {
                tracing::debug!(alert.id = %alert.id, attempts, "alert webhook delivered");
            }
            Delivery::Refused { status, attempts } => {
                tracing::error!(alert.id = %alert.id, status, attempts, "the alert webhook refused a notice; it is not retried");
            }
            Delivery::GaveUp { attempts } => {
                tracing::error!(alert.id = %alert.id, attempts, "the alert webhook could not be reached; the notice is dropped (it is in alertHistory)");
            }
        }
    }
}

/// Sends one notice, retrying as the module says.
pub async fn deliver(
    client: &GuardedClient,
    settings: &WebhookSettings,
    alert: &Alert,
) -> Delivery {
    let body = match serde_json::to_vec(alert) {
        Ok(body) => body,
        // A notice is plain data; failing to encode it is a bug, not the receiver's fault.
        Err(err) => {
            tracing::error!(alert.id = %alert.id, error.message = %err, "an alert notice could not be encoded");
            return Delivery::GaveUp { attempts: 0 };
        }
    };
    let max = settings.max_attempts.max(1);
    for attempt in 1..=max {
        let timestamp = chrono::Utc::now().timestamp();
        let Some(signature) = sign(settings.secret.expose(), timestamp, &body) else {
            tracing::error!(alert.id = %alert.id, "the alert webhook secret cannot key an HMAC");
            return Delivery::GaveUp { attempts: 0 };
        };
        let request = client
            .post(&settings.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone());
        let result = client.send(request).await;
        match result {
            Ok(reply) if reply.status().is_success() => {
                return Delivery::Delivered { attempts: attempt }
            }
            Ok(reply)
                if !(reply.status().is_server_error()
                    || reply.status() == reqwest::StatusCode::TOO_MANY_REQUESTS) =>
            {
                return Delivery::Refused {
                    status: reply.status().as_u16(),
                    attempts: attempt,
                };
            }
            Ok(reply) => {
                tracing::warn!(alert.id = %alert.id, attempt, status = reply.status().as_u16(), "alert webhook failed; retrying");
            }
            Err(SendError::Refused(refused)) => {
                // Another try would be refused the same way.
                tracing::error!(alert.id = %alert.id, attempt, error.message = %refused, "the alert webhook's address is refused by the outbound policy; the notice is dropped");
                return Delivery::GaveUp { attempts: attempt };
            }
            Err(SendError::Http(err)) => {
                // Without the URL: it may carry a token in its query.
                let err = err.without_url();
                tracing::warn!(alert.id = %alert.id, attempt, error.message = %err, "alert webhook unreachable; retrying");
            }
        }
        if attempt < max {
            tokio::time::sleep(backoff(settings, attempt)).await;
        }
    }
    Delivery::GaveUp { attempts: max }
}

/// The wait after try `attempt`: doubling from `backoff_base`, capped, with full jitter on its
/// upper half so receivers that came back are not hit by every sender at once.
fn backoff(settings: &WebhookSettings, attempt: u32) -> Duration {
    let doubled = settings
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = doubled.min(settings.backoff_max);
    ceiling.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

#[cfg(test)]
mod tests;
