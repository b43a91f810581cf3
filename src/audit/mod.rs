//! The audit log of admin actions, chained by hash.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry itself (its
//! sequence number, time, actor, action, target and the stored before/after text), so editing
//! an entry changes its hash, and removing one breaks the link of the next: `smsgate audit
//! verify` recomputes the chain and names the first entry that does not fit.
//!
//! The chain detects changes made to the stored rows; it does not stop someone who can rewrite
//! the whole tail of the log and recompute every hash after it. Copy `audit verify`'s head hash
//! somewhere else now and then; `audit verify --head <hash>` then checks the chain still holds
//! it (anchored), which a rewrite of any entry up to it cannot fake.

mod chain;

pub use chain::{
    entry_hash, time_text, verify_anchored, verify_chain, ChainBreak, ChainEntry, Verified, GENESIS,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use smsgate_actors::{
    domain::{AuditEntryView, AuditQuery, AuditRecord},
    ports::{AuditPort, AuditUnavailable, StoreError},
};
use std::sync::Arc;

/// Where the audit log is kept: the embedded store and MongoDB implement it beside their token
/// storage (`crate::access::AccessStore`), which it does not depend on.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an entry, chained to the last one in the same write.
    async fn append_audit(
        &self,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEntryView, StoreError>;
    /// Entries matching `query`, newest first, at most `query.limit`.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, StoreError>;
    /// The whole chain, oldest first, as stored, for verification.
    async fn audit_chain(&self) -> Result<Vec<ChainEntry>, StoreError>;
}

/// The audit log over its store: the server's implementation of the engine's `AuditPort`, used
/// by GraphQL, the REST routes and the command line.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }

    /// Records an action; a failure is logged at error level and returned to callers that
    /// care (the command line fails; the API has already acted and only logs it).
    pub async fn record(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        let action = record.action.clone();
        match self.store.append_audit(record, Utc::now()).await {
            Ok(entry) => {
                tracing::info!(action = %action, seq = entry.seq, actor = %entry.record.actor, "audit entry recorded");
                Ok(())
            }
            Err(err) => {
                tracing::error!(action = %action, error.message = %err, "admin action not recorded in the audit log");
                Err(AuditUnavailable(Box::new(err)))
            }
        }
    }

    /// [`verify_anchored`] over the stored chain.
    pub async fn verify_anchored(
        &self,
        kept: Option<&str>,
    ) -> Result<Result<Verified, ChainBreak>, AuditUnavailable> {
        let chain = self
            .store
            .audit_chain()
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))?;
        Ok(verify_anchored(&chain, kept))
    }

    pub async fn verify(&self) -> Result<Result<(usize, String), ChainBreak>, AuditUnavailable> {
        let chain = self
            .store
            .audit_chain()
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))?;
        Ok(verify_chain(&chain))
    }
}

#[async_trait::async_trait]
impl AuditPort for AuditLog {
    async fn record(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        AuditLog::record(self, record).await
    }

    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, AuditUnavailable> {
        self.store
            .audit_entries(query)
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))
    }
}

#[cfg(test)]
mod tests;
