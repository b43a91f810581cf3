//! Where admin actions are recorded and read back from: the server implements it over its own
//! storage; the APIs (GraphQL, REST, CLI) record through it.

use crate::domain::audit::{AuditEntryView, AuditQuery, AuditRecord};

#[derive(Debug, thiserror::Error)]
#[error("the audit log is unavailable")]
pub struct AuditUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

#[async_trait::async_trait]
pub trait AuditPort: Send + Sync + 'static {
    async fn record(&self, record: AuditRecord) -> Result<(), AuditUnavailable>;
    /// Newest first; `limit + 1` asked for tells whether there is a next page.
    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, AuditUnavailable>;
}
