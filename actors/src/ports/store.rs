//! The store port: messages with their events, providers, statistics. One contract, two backends.

use super::lease::Leases;
use crate::domain::{
    message::{Message, MessageFilter, Page, PageRequest},
    stats::{StatsDelta, StatsQuery, StatsRebuild},
    MessageEvent, MessageId, ProviderConfig, ProviderId,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or refused the write; nothing of it was kept.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A unique constraint (a provider slug, say) refused the write.
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} was not found")]
    NotFound(String),
    /// Stored data could not be read back into the domain.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Status changes of these messages were refused: this instance no longer holds their lease
    /// (another instance took them over) or their stored status moved on (a receipt applied by
    /// another instance). Nothing of the batch was kept; the other writes may be committed again.
    #[error("the lease on {} message(s) was lost", .0.len())]
    LeaseLost(Vec<MessageId>),
}

/// One change to a message, applied in order inside a batch. The message is shared: the same
/// snapshot is written, then published to subscribers, without copying it.
#[derive(Debug, Clone)]
pub enum MessageWrite {
    /// A new message with its first event(s).
    Insert(Arc<Message>),
    /// The message's mutable fields as they are now, plus the one event that got them there.
    Update {
        message: Arc<Message>,
        event: MessageEvent,
    },
}

impl MessageWrite {
    pub fn message(&self) -> &Arc<Message> {
        match self {
            Self::Insert(message) | Self::Update { message, .. } => message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// An insert whose idempotency key is taken: the stored message is the answer.
    DuplicateIdempotencyKey(MessageId),
    /// A status change refused because this instance lost the message (see
    /// `StoreError::LeaseLost`); given by the Logger, never by a store.
    LeaseLost,
}

#[async_trait]
/// Inserts write the holder's lease with the message; updates are fenced by it (see `lease`).
pub trait Store: Leases + Send + Sync + 'static {
    /// Reachable and able to answer a read.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies every write in one commit, with `stats` added to the statistics (rows created as
    /// needed) in that same commit: all are kept or none. One outcome per write, in order.
    /// A status change and the figures it adds are kept together or not at all, so a crash
    /// (kill -9) between the two cannot leave the statistics disagreeing with the messages.
    /// Only updates carry figures, and an update is always applied when the commit succeeds,
    /// so the caller can work them out before committing.
    async fn commit_with_statistics(
        &self,
        writes: &[MessageWrite],
        stats: &[StatsDelta],
    ) -> Result<Vec<WriteOutcome>, StoreError>;
    /// With its events, oldest first.
    async fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError>;
    async fn message_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError>;
    /// The message accepted under this idempotency key, if any.
    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError>;
    /// Newest first; events included.
    async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError>;
    /// Every message not in a final state, oldest first: what a restart must pick up again.
    async fn unfinished_messages(&self) -> Result<Vec<Message>, StoreError>;

    async fn providers(&self) -> Result<Vec<ProviderConfig>, StoreError>;
    async fn provider(&self, id: &ProviderId) -> Result<Option<ProviderConfig>, StoreError>;
    /// Conflict when the slug is taken.
    async fn insert_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError>;
    /// NotFound when no provider has this id.
    async fn update_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError>;
    async fn delete_provider(&self, id: &ProviderId) -> Result<bool, StoreError>;
    /// Makes this provider the only default, in one write. NotFound when no provider has this id.
    async fn set_default_provider(&self, id: &ProviderId) -> Result<(), StoreError>;

    /// Rows per (day, hour, provider, type) within the query's days, provider and type.
    async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError>;
    /// Recomputes `day`'s rows from the logs (`stats::rows_for_day` over every message with an
    /// event that day) and puts them in place of that day's stored rows, reading and replacing
    /// in one transaction so a commit running meanwhile is counted exactly once.
    async fn rebuild_statistics(&self, day: NaiveDate) -> Result<StatsRebuild, StoreError>;
}
