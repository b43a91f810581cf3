//! EngineError: what `Engine` methods return, in the API's kinds, with causes kept as sources.

use crate::ports::StoreError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request was refused because of one of its fields; nothing was stored.
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// No active provider can take this message (none configured, all down, or the pinned one is).
    #[error("{0}")]
    NoProvider(String),
    /// Over a limit: `reason` says which (the token's rate, its daily spend, the recipient's
    /// allowance), never whose number.
    #[error("rate limited ({reason}); retry after {} s", retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// Not accepted, safe to retry: the store or the engine cannot take it right now.
    #[error("temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl EngineError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    /// The engine's actors are gone (shut down, or a crash it could not recover from).
    pub(crate) fn stopped(what: &'static str) -> Self {
        Self::Unavailable(format!("the {what} is not running").into())
    }
}

impl From<StoreError> for EngineError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::LeaseLost(_) => {
                Self::Unavailable(Box::new(err))
            }
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => Self::NotFound {
                what: "record",
                id: what,
            },
            StoreError::Corrupt(_) => Self::Internal(Box::new(err)),
        }
    }
}
