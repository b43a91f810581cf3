//! Access control data: named API tokens with roles, kept only as SHA-256 digests.
//!
//! This is smsgate's own storage, not the engine's: the [`AccessStore`] trait lives here, beside
//! the HTTP layer that checks tokens, and the engine's `Store` port knows nothing of it. The
//! embedded store implements both.
//!
//! A token is shown once, when it is created; what is stored is its digest. A digest cannot be
//! turned back into a token, so a copy of the store lets nobody in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::{distributions::Alphanumeric, Rng};
use sha2::{Digest, Sha256};
use smsgate_actors::ports::StoreError;

use crate::secrets::SecretString;
use smsgate_actors::domain::Role;

/// Longest token name: it is a label in logs and the audit log, not a description.
const MAX_NAME_LEN: usize = 64;
/// Random characters in a token: 43 alphanumerics are about 256 bits.
const TOKEN_CHARS: usize = 43;
/// The names of the bootstrap tokens from the configuration; a stored token may not take one,
/// or the logs and the audit log could not tell them apart.
pub const BOOTSTRAP_NAMES: [&str; 2] = ["admin", "service"];

/// SHA-256 of a token: what is stored and what is compared.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A stored token: its name, role and digest, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub digest: [u8; 32],
    pub created_at: DateTime<Utc>,
    /// Set once revoked; a revoked token is refused at its next request.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a token name is 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', and not admin or service")]
    BadName,
    #[error("role must be one of admin, service, viewer")]
    BadRole,
    #[error("no token is named {0}")]
    UnknownToken(String),
    #[error("the token {0} is already revoked")]
    AlreadyRevoked(String),
}

/// The tokens smsgate keeps for access control (the audit log is `crate::audit::AuditStore`).
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Stores a new token. A taken name is a `StoreError::Conflict`.
    async fn insert_token(&self, token: &StoredToken) -> Result<(), StoreError>;
    /// The token with this digest, revoked or not.
    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<StoredToken>, StoreError>;
    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<StoredToken>, StoreError>;
    /// Marks the named token revoked (if it is not yet) and returns it as it is now.
    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredToken>, StoreError>;
}

pub fn parse_role(raw: &str) -> Result<Role, AccessError> {
    Role::parse(raw).ok_or(AccessError::BadRole)
}

fn valid_name(name: &str) -> Result<String, AccessError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !BOOTSTRAP_NAMES.contains(&name);
    if ok {
        Ok(name.to_owned())
    } else {
        Err(AccessError::BadName)
    }
}

/// Creates a token: stores its digest and returns the token, to be shown once.
pub async fn create_token(
    store: &dyn AccessStore,
    name: &str,
    role: Role,
) -> Result<(SecretString, StoredToken), AccessError> {
    let name = valid_name(name)?;
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(TOKEN_CHARS)
        .map(char::from)
        .collect();
    let token = SecretString::new(format!("sgt_{random}"));
    let stored = StoredToken {
        id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
        name,
        role,
        digest: digest(token.expose()),
        created_at: Utc::now(),
        revoked_at: None,
    };
    store.insert_token(&stored).await?;
    tracing::info!(token_name = %stored.name, role = role.as_str(), "API token created");
    Ok((token, stored))
}

/// Revokes the named token; it is refused from its next request on.
pub async fn revoke_token(store: &dyn AccessStore, name: &str) -> Result<StoredToken, AccessError> {
    let before = store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| AccessError::UnknownToken(name.to_owned()))?;
    if before.revoked_at.is_some() {
        return Err(AccessError::AlreadyRevoked(name.to_owned()));
    }
    let revoked = store
        .revoke_token(name, Utc::now())
        .await?
        .ok_or_else(|| AccessError::UnknownToken(name.to_owned()))?;
    tracing::info!(token_name = %revoked.name, "API token revoked");
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_labels_and_not_the_bootstrap_ones() {
        for ok in ["billing-app", "grafana.viewer", "ci_1"] {
            assert_eq!(valid_name(ok).unwrap(), ok);
        }
        for bad in ["", "a b", "admin", "service", &"x".repeat(65), "é"] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_parse_by_their_names() {
        assert_eq!(parse_role("Viewer").unwrap(), Role::Viewer);
        assert!(parse_role("root").is_err());
    }
}
