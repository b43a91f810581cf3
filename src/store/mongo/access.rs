//! The MongoDB store's side of [`AccessStore`] (named API tokens in `api_tokens`) and of
//! [`AuditStore`] (the audit log in `audit_log`), shared by every instance on the database (with MongoDB selected nothing
//! of access control stays in one instance's data dir).
//!
//! Times are kept as the RFC 3339 text the embedded store keeps (nanoseconds), so a token reads
//! back equal and an audit entry's hash covers exactly the stored text. The audit chain stays
//! gap-free with concurrent instances: an entry's `_id` is its sequence number, so two instances
//! appending after the same last entry collide on the unique `_id`; the loser reads the new last
//! entry and chains to it.

use super::{is_duplicate_key, mongo_error, AUDIT, TOKENS};
use crate::access::{parse_role, AccessStore, StoredToken};
use crate::audit::{entry_hash, time_text, AuditStore, ChainEntry, GENESIS};
use crate::store::decode::{parse_time, StoredAuditEntry};
use crate::store::MongoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use serde::{Deserialize, Serialize};
use smsgate_actors::domain::{AuditEntryView, AuditQuery, AuditRecord};
use smsgate_actors::ports::StoreError;

/// Tries of one audit append against other instances appending at the same moment.
const APPEND_ATTEMPTS: u32 = 50;

#[derive(Debug, Serialize, Deserialize)]
struct TokenDoc {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    role: String,
    /// SHA-256 of the token, in hex: the token itself is never stored.
    digest: String,
    created_at: String,
    revoked_at: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenDoc {
    fn new(t: &StoredToken) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role.as_str().to_owned(),
            digest: hex(&t.digest),
            created_at: time_text(&t.created_at),
            revoked_at: t.revoked_at.as_ref().map(time_text),
        }
    }

    fn into_token(self) -> Result<StoredToken, StoreError> {
        let digest: Vec<u8> = (0..self.digest.len())
            .step_by(2)
            .map(|i| {
                self.digest
                    .get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError::Corrupt(format!("api_tokens.digest of {}", self.name)))?;
        Ok(StoredToken {
            role: parse_role(&self.role)
                .map_err(|_| StoreError::Corrupt(format!("api_tokens.role {:?}", self.role)))?,
            digest: digest
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("api_tokens.digest of {}", self.name)))?,
            created_at: parse_time("api_tokens.created_at", &self.created_at)?,
            revoked_at: self
                .revoked_at
                .as_deref()
                .map(|at| parse_time("api_tokens.revoked_at", at))
                .transpose()?,
            id: self.id,
            name: self.name,
        })
    }
}

impl MongoStore {
    fn token_docs(&self) -> mongodb::Collection<TokenDoc> {
        self.db.collection(TOKENS)
    }

    fn audit(&self) -> mongodb::Collection<StoredAuditEntry> {
        self.db.collection(AUDIT)
    }
}

#[async_trait]
impl AccessStore for MongoStore {
    async fn insert_token(&self, t: &StoredToken) -> Result<(), StoreError> {
        match self.token_docs().insert_one(TokenDoc::new(t)).await {
            Ok(_) => Ok(()),
            Err(err) if is_duplicate_key(&err) => {
                Err(StoreError::Conflict(format!("a token named {}", t.name)))
            }
            Err(err) => Err(mongo_error(err)),
        }
    }

    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<StoredToken>, StoreError> {
        self.token_docs()
            .find_one(doc! { "digest": hex(digest) })
            .await
            .map_err(mongo_error)?
            .map(TokenDoc::into_token)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let docs: Vec<TokenDoc> = self
            .token_docs()
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.into_iter().map(TokenDoc::into_token).collect()
    }

    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredToken>, StoreError> {
        self.token_docs()
            .update_one(
                doc! { "name": name, "revoked_at": null },
                doc! { "$set": { "revoked_at": time_text(&at) } },
            )
            .await
            .map_err(mongo_error)?;
        self.token_docs()
            .find_one(doc! { "name": name })
            .await
            .map_err(mongo_error)?
            .map(TokenDoc::into_token)
            .transpose()
    }
}

#[async_trait]
impl AuditStore for MongoStore {
    async fn append_audit(
        &self,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEntryView, StoreError> {
        let at_text = time_text(&at);
        let before = record.before.as_ref().map(|v| v.to_string());
        let after = record.after.as_ref().map(|v| v.to_string());
        for _ in 0..APPEND_ATTEMPTS {
            let last = self
                .audit()
                .find_one(doc! {})
                .sort(doc! { "_id": -1 })
                .await
                .map_err(mongo_error)?;
            let (prev_seq, prev_hash) = last.map_or((0, GENESIS.to_owned()), |l| (l.seq, l.hash));
            let seq = prev_seq + 1;
            let hash = entry_hash(
                &prev_hash,
                seq,
                &at_text,
                &record,
                before.as_deref(),
                after.as_deref(),
            );
            let entry = StoredAuditEntry {
                seq,
                at: at_text.clone(),
                actor: record.actor.clone(),
                action: record.action.clone(),
                target: record.target.clone(),
                before: before.clone(),
                after: after.clone(),
                prev_hash,
                hash: hash.clone(),
            };
            match self.audit().insert_one(entry).await {
                Ok(_) => {
                    return Ok(AuditEntryView {
                        seq,
                        at,
                        record,
                        hash,
                    })
                }
                // Another instance took this sequence number: chain to its entry instead.
                Err(err) if is_duplicate_key(&err) => continue,
                Err(err) => return Err(mongo_error(err)),
            }
        }
        Err(StoreError::Unavailable(
            "the audit log stayed contended; the entry was not written".into(),
        ))
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, StoreError> {
        let mut filter = Document::new();
        for (field, value) in [
            ("action", &query.action),
            ("actor", &query.actor),
            ("target", &query.target),
        ] {
            if let Some(value) = value {
                filter.insert(field, value.as_str());
            }
        }
        if let Some(before) = query.before_seq {
            filter.insert("_id", doc! { "$lt": before });
        }
        let docs: Vec<StoredAuditEntry> = self
            .audit()
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.into_iter()
            .map(|d| d.into_chain().map(|c| c.entry))
            .collect()
    }

    async fn audit_chain(&self) -> Result<Vec<ChainEntry>, StoreError> {
        let docs: Vec<StoredAuditEntry> = self
            .audit()
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        docs.into_iter().map(StoredAuditEntry::into_chain).collect()
    }
}
