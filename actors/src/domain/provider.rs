//! A configured provider as the engine sees it: identity, ordering, and its parsed settings.

use super::ids::ProviderId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderKind {
    Smso,
    Twilio,
    Vonage,
    Http,
    Mock,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 5] = [
        Self::Smso,
        Self::Twilio,
        Self::Vonage,
        Self::Http,
        Self::Mock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smso => "SMSO",
            Self::Twilio => "TWILIO",
            Self::Vonage => "VONAGE",
            Self::Http => "HTTP",
            Self::Mock => "MOCK",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(raw))
    }

    /// Whether its webhook path carries a secret: the kinds whose receipts are not always
    /// signed (SMSO never signs; Vonage only with a signature secret). Twilio signs every one.
    pub fn has_webhook_secret(self) -> bool {
        matches!(self, Self::Smso | Self::Vonage)
    }
}

/// A new webhook path secret: 256 bits from the operating system's CSPRNG, as lower-case hex.
pub fn new_webhook_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One stored provider. `credentials` is the encrypted blob: the engine passes it to the
/// provider factory and never reads it; `api_key_hint` is all of it that may be shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub id: ProviderId,
    pub name: String,
    pub slug: String,
    pub kind: ProviderKind,
    pub is_active: bool,
    pub is_default: bool,
    /// Lower is tried first, after the default provider.
    pub priority: i32,
    pub features: Vec<String>,
    pub sender_id: Option<String>,
    pub api_base_url: Option<String>,
    pub credentials: Option<String>,
    pub api_key_hint: Option<String>,
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The random secret in its webhook path (`/webhooks/{kind}/{id}/{secret}`), for the kinds
    /// that have one (`ProviderKind::has_webhook_secret`). Shown to the admin once, when made
    /// or rotated; never listed (only whether it is set) and never logged.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

impl ProviderConfig {
    /// The path its receipts are posted to (`/webhooks/{kind}/{id}`, then `/{secret}` for a
    /// kind with a webhook secret): a secret, for those kinds, to show only when it is made.
    /// None for a kind without webhooks, or one that needs a secret and has none.
    pub fn webhook_path(&self) -> Option<String> {
        let kind = match self.kind {
            ProviderKind::Smso => "smso",
            ProviderKind::Vonage => "vonage",
            ProviderKind::Twilio => "twilio",
            ProviderKind::Http | ProviderKind::Mock => return None,
        };
        let base = format!("/webhooks/{kind}/{}", self.id);
        match (self.kind.has_webhook_secret(), &self.webhook_secret) {
            (false, _) => Some(base),
            (true, Some(secret)) => Some(format!("{base}/{secret}")),
            (true, None) => None,
        }
    }
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("kind", &self.kind)
            .field("is_active", &self.is_active)
            .field("is_default", &self.is_default)
            .field("priority", &self.priority)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// The settings every provider shares, read from `settings` with defaults for what is missing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// Provider calls in flight at once; more wait their turn in the engine.
    pub max_concurrency: usize,
    /// Consecutive failures that open the circuit.
    pub breaker_consecutive_failures: u32,
    /// Share of failures among the last `breaker_window` calls that opens the circuit.
    pub breaker_failure_rate: f64,
    pub breaker_window: usize,
    /// How long an open circuit waits before letting one probe through.
    pub breaker_cooldown_ms: u64,
    /// Whether SENT messages are polled for their status. `None`: the kind's default (SMSO
    /// polls, since its webhook is unsigned and optional; the others rely on webhooks).
    pub status_poll: Option<bool>,
    /// The first status check of a SENT message waits this long; each later one doubles it.
    pub status_poll_initial_ms: u64,
    /// The longest wait between two status checks of one message.
    pub status_poll_max_ms: u64,
    /// At most this many status checks are started per round, so a backlog does not burst.
    pub status_poll_batch: usize,
    /// While out of credit, the balance is read again at most this often (not only every five
    /// minutes), so a top-up is noticed soon and queued messages do not wait for long.
    pub balance_recheck_ms: u64,
    /// An ambiguous send (timed out, or an unreadable answer) is looked up at the provider this
    /// long after, when the provider can list what it received...
    pub reconcile_delay_ms: u64,
    /// ...at most this many times (the wait doubles); 0 turns the look-up off.
    pub reconcile_attempts: u32,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            max_concurrency: 64,
            breaker_consecutive_failures: 5,
            breaker_failure_rate: 0.5,
            breaker_window: 20,
            breaker_cooldown_ms: 30_000,
            status_poll: None,
            status_poll_initial_ms: 15_000,
            status_poll_max_ms: 600_000,
            status_poll_batch: 50,
            balance_recheck_ms: 10_000,
            reconcile_delay_ms: 2_000,
            reconcile_attempts: 3,
        }
    }
}

impl ProviderSettings {
    /// Unknown keys belong to the concrete provider; bad values fall back to the defaults so
    /// that a typo never takes a provider down.
    pub fn from_json(settings: &serde_json::Value) -> Self {
        let mut parsed: Self = serde_json::from_value(settings.clone()).unwrap_or_default();
        parsed.max_concurrency = parsed.max_concurrency.clamp(1, 10_000);
        parsed.breaker_window = parsed.breaker_window.clamp(1, 1_000);
        parsed.status_poll_initial_ms = parsed.status_poll_initial_ms.max(10);
        parsed.status_poll_max_ms = parsed.status_poll_max_ms.max(parsed.status_poll_initial_ms);
        parsed.status_poll_batch = parsed.status_poll_batch.clamp(1, 1_000);
        parsed.balance_recheck_ms = parsed.balance_recheck_ms.max(10);
        parsed.reconcile_delay_ms = parsed.reconcile_delay_ms.clamp(10, 600_000);
        parsed.reconcile_attempts = parsed.reconcile_attempts.min(10);
        parsed
    }

    /// Whether this provider's SENT messages are polled (see `status_poll`).
    pub fn polls_status(&self, kind: ProviderKind) -> bool {
        self.status_poll.unwrap_or(match kind {
            ProviderKind::Smso => true,
            ProviderKind::Twilio
            | ProviderKind::Vonage
            | ProviderKind::Http
            | ProviderKind::Mock => false,
        })
    }

    pub fn breaker_cooldown(&self) -> Duration {
        Duration::from_millis(self.breaker_cooldown_ms)
    }
}

/// What may be shown of a secret: its last four characters, e.g. `****3f9a`. A secret of eight
/// characters or fewer shows nothing of itself, since four of eight would be half of it.
pub fn secret_hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// What decides the next step after a failed call (see the design's "Message lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderErrorKind {
    /// Alert the admin, fail over.
    InvalidCredentials,
    /// Alert, mark the provider out of credit, fail over.
    InsufficientCredit,
    /// Retry with backoff (after `retry_after` when the provider said so).
    RateLimited,
    /// Retry with backoff.
    Timeout,
    /// 5xx, refused connection, malformed answer: retry with backoff.
    Unavailable,
    /// Permanent: the number is wrong, no provider will do better.
    InvalidRecipient,
    /// Permanent: the content was refused.
    InvalidContent,
    /// Permanent for this provider (for example an unregistered sender): fail over.
    Rejected,
    /// The send may or may not have gone out (it timed out after the request was written, or
    /// the provider's answer could not be read). No provider offers an idempotency key, so
    /// sending again could deliver it twice: the message fails, with a reason admins can see,
    /// and is never retried blindly.
    Ambiguous,
}

impl ProviderErrorKind {
    /// A problem with the message itself: trying elsewhere would only fail again.
    pub fn is_permanent_for_message(self) -> bool {
        match self {
            Self::InvalidRecipient | Self::InvalidContent | Self::Ambiguous => true,
            Self::InvalidCredentials
            | Self::InsufficientCredit
            | Self::RateLimited
            | Self::Timeout
            | Self::Unavailable
            | Self::Rejected => false,
        }
    }

    /// A problem with the provider itself, which counts against its circuit breaker. An
    /// ambiguous send is one: the provider was slow or garbled its answer.
    pub fn counts_against_provider(self) -> bool {
        match self {
            Self::InvalidRecipient | Self::InvalidContent => false,
            Self::InvalidCredentials
            | Self::InsufficientCredit
            | Self::RateLimited
            | Self::Timeout
            | Self::Unavailable
            | Self::Rejected
            | Self::Ambiguous => true,
        }
    }
}
