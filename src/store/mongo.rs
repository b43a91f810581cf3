//! The MongoDB store: the production backend, and the one several instances can share.
//!
//! Collections follow the seed's schema: `sms_logs` (a message with its events embedded, so a
//! message and its history are one document and appending an event is one `$push`),
//! `sms_providers` and `sms_statistics`. Every multi-document write runs in a transaction, which
//! needs a replica set (a one-node one will do); a commit returning Ok means the batch is
//! majority-committed. Indexes are created at start-up, idempotently: see `indexes`.
//!
//! The connection string carries a password: it is never logged nor put in an error.

mod access;
mod alerts;
mod changes;
mod counters;
mod documents;
mod indexes;
mod leases;
mod messages;
mod providers;
mod statistics;

use async_trait::async_trait;
use chrono::NaiveDate;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
use mongodb::{Client, ClientSession, Database};
use smsgate_actors::domain::stats::StatsRebuild;
use smsgate_actors::domain::{
    Message, MessageFilter, MessageId, Page, PageRequest, ProviderConfig, ProviderId, StatsDelta,
    StatsQuery,
};
use smsgate_actors::ports::{LeaseHolder, Leases, MessageWrite, Store, StoreError, WriteOutcome};
use std::sync::Arc;
use std::time::Duration;

pub use changes::Change;

/// The collections, named as in the seed.
const MESSAGES: &str = "sms_logs";
const PROVIDERS: &str = "sms_providers";
const STATISTICS: &str = "sms_statistics";
/// Named API tokens and the audit log, shared by every instance.
const TOKENS: &str = "api_tokens";
const AUDIT: &str = "audit_log";
/// One heartbeat per instance: its lease on the messages it holds (see `leases`).
const INSTANCES: &str = "sms_instances";
/// Counters of the limits every instance shares (see `counters`).
const RATE_LIMITS: &str = "rate_limits";

/// Tries of one transaction. A retry happens when another writer touched the same documents
/// (a write conflict, labelled transient by the server) or took an idempotency key first. With
/// the backoff below, the last try starts about ten seconds after the first: long enough for a
/// hot statistics document shared by several instances, short enough not to hide a server in
/// trouble.
const TRANSACTION_ATTEMPTS: u32 = 60;

/// The longest pause between two tries of a transaction; the first is a few milliseconds.
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(250);

/// A pause before try `attempt + 1` that grows with `attempt`, jittered so that writers that
/// conflicted once do not meet again at the same instant.
fn retry_pause(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(2u64.saturating_pow(attempt.min(16))).min(RETRY_PAUSE_MAX);
    ceiling.mul_f64(rand::random::<f64>().max(0.1))
}

/// Code of a unique-index violation.
const DUPLICATE_KEY: i32 = 11000;

/// Cheap to clone: clones share the driver's connection pool.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// The instance this store writes as: leases on inserts, the fence on updates.
    holder: LeaseHolder,
    /// Claims of this holder whose answer was lost, looked up again by later sweeps.
    lost_claims: Arc<leases::LostClaims>,
}

impl std::fmt::Debug for MongoStore {
    /// The database name only: the client's options hold the connection string.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.db.name())
            .field("instance", &self.holder.instance)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects, checks the server answers, and creates the indexes that are missing.
    pub async fn connect(uri: &str, database: &str) -> Result<MongoStore, StoreError> {
        let client = Client::with_uri_str(uri).await.map_err(mongo_error)?;
        let store = MongoStore {
            db: client.database(database),
            client,
            holder: LeaseHolder::default(),
            lost_claims: Arc::default(),
        };
        store.ping().await?;
        indexes::create(&store.db).await?;
        alerts::create_indexes(&store.db).await?;
        providers::give_webhook_secrets(&store.db).await?;
        tracing::info!(database, "connected to MongoDB");
        Ok(store)
    }

    /// The same store, writing as `holder` (its instance id and lease time).
    pub fn with_holder(self, holder: LeaseHolder) -> Self {
        Self {
            holder,
            lost_claims: Arc::default(),
            ..self
        }
    }

    /// Deletes messages `days` after they were accepted (a TTL index); `None` keeps them.
    pub async fn set_log_retention(&self, days: Option<u32>) -> Result<(), StoreError> {
        indexes::set_log_retention(&self.db, days).await
    }

    /// The database this store uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Starts a session with a transaction in it: snapshot reads, majority writes, so what a
    /// transaction read is what it wrote against, and a commit survives a failover.
    async fn begin(&self, session: &mut ClientSession) -> Result<(), StoreError> {
        let options = TransactionOptions::builder()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
            .build();
        session
            .start_transaction()
            .with_options(options)
            .await
            .map_err(mongo_error)
    }
}

/// Runs `$body` (an expression using `$session: &mut ClientSession`, evaluating to a future of
/// `Result<T, StoreError>`) in a transaction: committed when it succeeds, aborted when it fails,
/// and run again from the start when the server says trying again may work. A macro rather than
/// a function taking a closure: the body borrows the session mutably across awaits, which a
/// closure cannot express without boxing and higher-ranked lifetimes.
macro_rules! in_transaction {
    ($store:expr, $session:ident => $body:expr) => {{
        let store: &MongoStore = $store;
        let mut session = store.client.start_session().await.map_err(mongo_error)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            store.begin(&mut session).await?;
            let result = {
                let $session = &mut session;
                $body.await
            };
            match result {
                Ok(value) => match commit(&mut session).await {
                    Ok(()) => break Ok(value),
                    Err(err) if attempt < TRANSACTION_ATTEMPTS && may_retry(&err) => {
                        tracing::debug!(attempt, error.message = %err, "transaction retried");
                        tokio::time::sleep(retry_pause(attempt)).await;
                    }
                    Err(err) => break Err(err),
                },
                Err(err) => {
                    // The server may have aborted it already; either way nothing of it is kept.
                    if let Err(abort) = session.abort_transaction().await {
                        tracing::debug!(error.message = %abort, "abort after a failed transaction");
                    }
                    if attempt < TRANSACTION_ATTEMPTS && may_retry(&err) {
                        tracing::debug!(attempt, error.message = %err, "transaction retried");
                        tokio::time::sleep(retry_pause(attempt)).await;
                    } else {
                        break Err(err);
                    }
                }
            }
        }
    }};
}

/// Commits, retrying the commit alone while its outcome is unknown (the server may have
/// committed before the connection dropped; committing again is safe).
async fn commit(session: &mut ClientSession) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(err)
                if attempt < TRANSACTION_ATTEMPTS
                    && err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {}
            Err(err) => return Err(mongo_error(err)),
        }
    }
}

/// Whether running the whole transaction again may succeed: the server says so (a write
/// conflict with another writer), or a unique index refused an insert because another instance
/// took an idempotency key in between: the next try finds that key in its check and reports it.
fn may_retry(err: &StoreError) -> bool {
    let StoreError::Unavailable(source) = err else {
        return false;
    };
    let driver = source
        .downcast_ref::<mongodb::error::Error>()
        .is_some_and(|err| {
            err.contains_label(TRANSIENT_TRANSACTION_ERROR) || is_duplicate_key(err)
        });
    let refused = source
        .downcast_ref::<WriteRefused>()
        .is_some_and(|err| err.code == DUPLICATE_KEY);
    driver || refused
}

/// A unique index refused the write, whichever way the driver reports it.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// The server refused a statement of a multi-statement write command (its `writeErrors`).
#[derive(Debug, thiserror::Error)]
#[error("the server refused a write (code {code}): {message}")]
struct WriteRefused {
    code: i32,
    message: String,
}

/// The first of a write command's `writeErrors`, as an error; Ok when there are none.
fn refused_writes(reply: &Document) -> Result<(), StoreError> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    let first = errors.iter().find_map(Bson::as_document);
    let refused = WriteRefused {
        code: first.and_then(|e| e.get_i32("code").ok()).unwrap_or(0),
        message: first
            .and_then(|e| e.get_str("errmsg").ok())
            .unwrap_or("no message")
            .to_owned(),
    };
    Err(StoreError::Unavailable(Box::new(refused)))
}

/// A document that does not fit its type is corrupt data, which retrying will not fix; anything
/// else (network, server, timeouts) makes the store unavailable, with the driver's error kept.
fn mongo_error(err: mongodb::error::Error) -> StoreError {
    match err.kind.as_ref() {
        ErrorKind::BsonDeserialization(e) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(Box::new(err)),
    }
}

#[async_trait]
impl Leases for MongoStore {
    fn holder(&self) -> &LeaseHolder {
        &self.holder
    }

    async fn renew_leases(&self) -> Result<u64, StoreError> {
        leases::renew(&self.db, &self.holder).await
    }

    async fn claim_at_start(&self) -> Result<Vec<Message>, StoreError> {
        leases::claim_at_start(&self.db, &self.holder, &self.lost_claims).await
    }

    async fn claim_expired(&self, max: usize) -> Result<Vec<Message>, StoreError> {
        leases::claim_expired(&self.db, &self.holder, &self.lost_claims, max).await
    }

    async fn held(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        leases::held(&self.db, &self.holder, id).await
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        leases::release(&self.db, &self.holder).await
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(mongo_error)
    }

    async fn commit_with_statistics(
        &self,
        writes: &[MessageWrite],
        stats: &[StatsDelta],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if writes.is_empty() && stats.is_empty() {
            return Ok(Vec::new());
        }
        let plan = messages::Plan::new(writes, &self.holder)?;
        if stats.is_empty() {
            return in_transaction!(self, session => messages::apply(&self.db, session, &plan));
        }
        // One transaction: the figures are kept exactly when the changes they count are.
        in_transaction!(self, session => async {
            let outcomes = messages::apply(&self.db, &mut *session, &plan).await?;
            statistics::add(&self.db, &mut *session, stats).await?;
            Ok::<_, StoreError>(outcomes)
        })
    }

    async fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        messages::by_id(&self.db, id).await
    }

    async fn message_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        messages::by_provider_id(&self.db, provider, provider_message_id).await
    }

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
        messages::by_idempotency_key(&self.db, key).await
    }

    async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        messages::list(&self.db, filter, page).await
    }

    async fn unfinished_messages(&self) -> Result<Vec<Message>, StoreError> {
        messages::unfinished(&self.db).await
    }

    async fn providers(&self) -> Result<Vec<ProviderConfig>, StoreError> {
        providers::all(&self.db).await
    }

    async fn provider(&self, id: &ProviderId) -> Result<Option<ProviderConfig>, StoreError> {
        providers::by_id(&self.db, id).await
    }

    async fn insert_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        let doc = documents::ProviderDoc::new(provider)?;
        in_transaction!(self, session => providers::insert(&self.db, session, provider, &doc))
    }

    async fn update_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        let doc = documents::ProviderDoc::new(provider)?;
        in_transaction!(self, session => providers::update(&self.db, session, provider, &doc))
    }

    async fn delete_provider(&self, id: &ProviderId) -> Result<bool, StoreError> {
        providers::delete(&self.db, id).await
    }

    async fn set_default_provider(&self, id: &ProviderId) -> Result<(), StoreError> {
        in_transaction!(self, session => providers::set_default(&self.db, session, id))
    }

    async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
        statistics::query(&self.db, query).await
    }

    async fn rebuild_statistics(&self, day: NaiveDate) -> Result<StatsRebuild, StoreError> {
        in_transaction!(self, session => statistics::rebuild(&self.db, session, day))
    }
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod change_tests;
#[cfg(test)]
mod counter_tests;
#[cfg(test)]
mod lease_tests;
#[cfg(test)]
mod tests;
