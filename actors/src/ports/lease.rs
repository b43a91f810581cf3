//! Leases: which instance dispatches a message when several share one store.
//!
//! The instance that accepts a message owns it from the insert (the store writes its lease with
//! the message). The owner renews all its leases in one write per period while it runs; when it
//! stops renewing (it died), the leases run out and another instance claims the messages, one
//! atomic claim each, so two instances never hold the same message. Every status change the
//! owner writes is fenced: it is applied only while the writer still holds the lease and the
//! stored status is the one the change was made from. A delivery receipt (SENT → DELIVERED or
//! UNDELIVERED) may be written by any instance, guarded by the status alone, so it is applied
//! exactly once and never regresses a final state.

use crate::domain::{Message, MessageId, MessageStatus};
use crate::ports::{MessageWrite, StoreError};
use async_trait::async_trait;
use std::time::Duration;

/// This process, as the holder of the leases it writes. Unique per process: a restarted process
/// with a new id waits for its old leases to run out, one with the same id takes them back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A fresh id for a process that was given none.
    pub fn generate() -> Self {
        Self(format!("inst_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who writes through a store, and for how long a lease it writes lasts without renewal.
#[derive(Debug, Clone)]
pub struct LeaseHolder {
    pub instance: InstanceId,
    pub ttl: Duration,
}

impl LeaseHolder {
    pub fn new(instance: InstanceId, ttl: Duration) -> Self {
        Self { instance, ttl }
    }

    /// The lease's end if it is taken or renewed now.
    pub fn until_from_now(&self) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(30));
        chrono::Utc::now() + ttl
    }
}

impl Default for LeaseHolder {
    /// A lone process: a fresh id and a 30 s lease.
    fn default() -> Self {
        Self::new(InstanceId::generate(), Duration::from_secs(30))
    }
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Who this store writes as.
    fn holder(&self) -> &LeaseHolder;

    /// Extends, in one write, the lease of every unfinished message this instance holds.
    /// Returns how many it extended.
    async fn renew_leases(&self) -> Result<u64, StoreError>;

    /// At start: claims every unfinished message that is free (its lease ran out or it has none)
    /// or already held by this instance id. Oldest first. A single-process store answers every
    /// unfinished message.
    async fn claim_at_start(&self) -> Result<Vec<Message>, StoreError>;

    /// Claims up to `max` unfinished messages held by another instance whose lease ran out, each
    /// with one atomic find-and-modify, oldest first. A single-process store has none.
    ///
    /// The caller never cancels it, so the store bounds each of its own round trips, and never
    /// drops a message it claimed: on an error after some claims it returns those, and a claim
    /// whose answer was lost (it may have been applied) is returned by a later call.
    async fn claim_expired(&self, max: usize) -> Result<Vec<Message>, StoreError>;

    /// The message as stored, if this instance holds its lease and it is unfinished: after a
    /// change was refused for a lost lease, whether this instance has since claimed it back (the
    /// refusal's answer can arrive after that claim). A single-process store holds every message.
    async fn held(&self, id: &MessageId) -> Result<Option<Message>, StoreError>;

    /// Ends this instance's leases now, at a graceful stop after its last write, so another
    /// instance takes its unfinished messages at its next sweep instead of after the lease time.
    async fn release_leases(&self) -> Result<(), StoreError>;
}

/// The status a status change was made from: what the stored message must still say for the
/// change to apply. `None` for an insert (or a snapshot without history).
pub fn previous_status(write: &MessageWrite) -> Option<MessageStatus> {
    let MessageWrite::Update { message, .. } = write else {
        return None;
    };
    let n = message.events.len();
    (n >= 2).then(|| message.events[n - 2].status)
}

/// A delivery receipt: the one change any instance may write for a message it does not hold.
pub fn is_receipt(from: MessageStatus, to: MessageStatus) -> bool {
    from == MessageStatus::Sent
        && matches!(to, MessageStatus::Delivered | MessageStatus::Undelivered)
}
