//! A message's history: one event per status change, with its time, provider and error.

use super::provider::ProviderErrorKind;
use super::status::MessageStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a message is not (yet) where the caller wanted it. `message` is written for people and
/// never carries a secret: providers' answers are normalised before they get here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The error kinds a message can record: the provider kinds of the design plus the engine's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    InvalidCredentials,
    InsufficientCredit,
    RateLimited,
    Timeout,
    ProviderUnavailable,
    InvalidRecipient,
    InvalidContent,
    Rejected,
    NoProvider,
    /// The process stopped while the provider call was in flight: it may or may not have gone out.
    Interrupted,
    Expired,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::InsufficientCredit => "INSUFFICIENT_CREDIT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Self::InvalidRecipient => "INVALID_RECIPIENT",
            Self::InvalidContent => "INVALID_CONTENT",
            Self::Rejected => "REJECTED",
            Self::NoProvider => "NO_PROVIDER",
            Self::Interrupted => "INTERRUPTED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::InvalidCredentials,
            Self::InsufficientCredit,
            Self::RateLimited,
            Self::Timeout,
            Self::ProviderUnavailable,
            Self::InvalidRecipient,
            Self::InvalidContent,
            Self::Rejected,
            Self::NoProvider,
            Self::Interrupted,
            Self::Expired,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

impl From<ProviderErrorKind> for ErrorKind {
    fn from(kind: ProviderErrorKind) -> Self {
        match kind {
            ProviderErrorKind::InvalidCredentials => Self::InvalidCredentials,
            ProviderErrorKind::InsufficientCredit => Self::InsufficientCredit,
            ProviderErrorKind::RateLimited => Self::RateLimited,
            ProviderErrorKind::Timeout => Self::Timeout,
            ProviderErrorKind::Unavailable => Self::ProviderUnavailable,
            ProviderErrorKind::InvalidRecipient => Self::InvalidRecipient,
            ProviderErrorKind::InvalidContent => Self::InvalidContent,
            ProviderErrorKind::Rejected => Self::Rejected,
            // The same situation as a process stop during the call: it may have gone out.
            ProviderErrorKind::Ambiguous => Self::Interrupted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    pub status: MessageStatus,
    pub at: DateTime<Utc>,
    pub provider: Option<String>,
    pub error: Option<MessageError>,
}
