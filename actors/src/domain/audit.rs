//! The audit log's values: the admin actions there are (one enum for GraphQL, REST and the CLI),
//! one record of an action, a stored entry, a query over entries, and the snapshots an entry
//! keeps of a provider or a test message (never a secret or a message body).

use super::{Message, ProviderConfig};
use serde_json::{json, Value};

/// Every admin action the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    ProviderCreated,
    ProviderUpdated,
    ProviderActivated,
    ProviderDeleted,
    ProviderTestSms,
    ProviderWebhookSecretRotated,
    TokenCreated,
    TokenRevoked,
    KeysRotated,
    StatisticsRebuilt,
    /// An admin operation was asked for (written before it runs, so none goes unrecorded).
    AdminRequested,
    /// An admin operation was refused for the caller's role.
    AdminRefused,
}

impl AuditAction {
    pub const ALL: [AuditAction; 12] = [
        Self::ProviderCreated,
        Self::ProviderUpdated,
        Self::ProviderActivated,
        Self::ProviderDeleted,
        Self::ProviderTestSms,
        Self::ProviderWebhookSecretRotated,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::KeysRotated,
        Self::StatisticsRebuilt,
        Self::AdminRequested,
        Self::AdminRefused,
    ];

    /// The name stored in an entry and used to filter the log; part of the hash chain, so a
    /// name never changes once released.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderCreated => "provider.created",
            Self::ProviderUpdated => "provider.updated",
            Self::ProviderActivated => "provider.activated",
            Self::ProviderDeleted => "provider.deleted",
            Self::ProviderTestSms => "provider.test_sms",
            Self::ProviderWebhookSecretRotated => "provider.webhook_secret_rotated",
            Self::TokenCreated => "token.created",
            Self::TokenRevoked => "token.revoked",
            Self::KeysRotated => "keys.rotated",
            Self::StatisticsRebuilt => "statistics.rebuilt",
            Self::AdminRequested => "admin.requested",
            Self::AdminRefused => "admin.refused",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One admin action to record: who, what, on what, and the change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The caller's token name (`admin`, `grafana`, `cli`...), never the token.
    pub actor: String,
    /// An [`AuditAction`]'s name, as stored.
    pub action: String,
    pub target: Option<String>,
    /// Snapshots with secrets replaced by hints.
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditRecord {
    /// A record of `action` by `actor` on `target`, without snapshots.
    pub fn new(actor: impl Into<String>, action: AuditAction, target: Option<String>) -> Self {
        Self {
            actor: actor.into(),
            action: action.as_str().to_owned(),
            target,
            before: None,
            after: None,
        }
    }

    pub fn with_change(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// A stored entry, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntryView {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub record: AuditRecord,
    /// This entry's link in the hash chain (hex SHA-256 over the previous hash and the entry).
    pub hash: String,
}

/// Which entries to read: all given conditions hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    /// Entries with a smaller `seq`: newest first, this continues a page.
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// What the audit log keeps of a provider: its configuration with the credentials left out and
/// only their hint kept.
pub fn provider_snapshot(c: &ProviderConfig) -> Value {
    json!({
        "id": c.id.to_string(),
        "name": c.name,
        "slug": c.slug,
        "kind": c.kind.as_str(),
        "isActive": c.is_active,
        "isDefault": c.is_default,
        "priority": c.priority,
        "features": c.features,
        "senderId": c.sender_id,
        "apiBaseUrl": c.api_base_url,
        "apiKeyHint": c.api_key_hint,
        "hasCredentials": c.credentials.is_some(),
        "settings": c.settings,
    })
}

/// What the audit log keeps of a test message: which, to whom, how it ended (not its body).
pub fn test_sms_snapshot(m: &Message) -> Value {
    json!({
        "messageId": m.id.to_string(),
        "to": m.to.to_string(),
        "provider": m.provider,
        "status": m.status.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_action_has_its_own_dotted_name() {
        let names: HashSet<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        assert!(names.iter().all(|n| n.split_once('.').is_some()));
    }
}
