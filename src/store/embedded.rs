//! The embedded store: one SQLite file, `smsgate.db`, in the data directory.
//!
//! SQLite calls block, so every call runs on tokio's blocking pool, never on a runtime worker.
//! One writer connection takes every write, one batch per transaction; WAL mode lets a few reader
//! connections answer queries meanwhile, each query in its own read transaction so a message and
//! its events always come from the same snapshot. The writer syncs fully: a commit returning Ok
//! means the batch is on disk and survives a power cut.

mod access;
mod alerts;
mod audit;
mod messages;
mod providers;
mod rows;
mod schema;
mod statistics;

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::{Connection, ErrorCode};
use smsgate_actors::domain::stats::StatsRebuild;
use smsgate_actors::domain::{
    Message, MessageFilter, MessageId, Page, PageRequest, ProviderConfig, ProviderId, StatsDelta,
    StatsQuery,
};
use smsgate_actors::ports::{LeaseHolder, Leases, MessageWrite, Store, StoreError, WriteOutcome};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

/// The database file inside the data directory.
pub const DB_FILE: &str = "smsgate.db";

/// Reader connections. Reads are short index walks, so a few cover a busy API; more would only
/// hold more page cache and more blocking threads.
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("cannot create the data directory {}", path.display())]
struct CreateDirError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Cheap to clone: clones share the same connections.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The only connection that writes. A std mutex, not tokio's: it is only ever taken on a
    /// blocking thread, and waiting for it there is the point (writes are serialised anyway).
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free reader, so reads spread over all of them.
    next_reader: AtomicUsize,
    /// The one process that uses this store: leases have nobody to be fenced from.
    holder: LeaseHolder,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating as needed) `data_dir/smsgate.db` and brings its schema up to date.
    /// Blocks while it does: call it at start-up, or from `spawn_blocking`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| {
            StoreError::Unavailable(Box::new(CreateDirError {
                path: data_dir.to_path_buf(),
                source,
            }))
        })?;
        let path = data_dir.join(DB_FILE);
        // The writer first: it switches the file to WAL and migrates before any reader looks.
        let mut writer = Connection::open(&path).map_err(sqlite_error)?;
        schema::configure_writer(&writer)?;
        schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(&path).map_err(sqlite_error)?;
                schema::configure_reader(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                holder: LeaseHolder::default(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` in one write transaction on the writer, off the runtime. The transaction
    /// commits only if `work` returns Ok; dropping it on an error rolls everything back.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut conn = lock(&inner.writer);
            // IMMEDIATE takes the write lock up front, so a second process on the same file
            // waits (busy_timeout) instead of failing half-way through a batch.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let value = work(&tx)?;
            tx.commit().map_err(sqlite_error)?;
            Ok(value)
        })
        .await
    }

    /// Runs `work` in one read transaction on a free reader, off the runtime.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut conn = inner.reader();
            let tx = conn.transaction().map_err(sqlite_error)?;
            let value = work(&tx)?;
            tx.finish().map_err(sqlite_error)?;
            Ok(value)
        })
        .await
    }
}

impl Inner {
    /// A free reader if there is one, else waits for one (on a blocking thread, so only that
    /// thread waits).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        for offset in 0..count {
            match self.readers[(start + offset) % count].try_lock() {
                Ok(conn) => return conn,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.readers[start % count])
    }
}

/// A panic while a connection was held unwound through its transaction, which rolled back: the
/// connection is sound, so a poisoned lock is taken anyway rather than failing every later call.
fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn run_blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| StoreError::Unavailable(Box::new(join)))?
}

/// SQLite's own failures make the store unavailable; values that do not fit their column type
/// and damaged files are corrupt data, which retrying will not fix.
fn sqlite_error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(err.to_string()),
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(
                failure.code,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Corrupt(err.to_string())
        }
        _ => StoreError::Unavailable(Box::new(err)),
    }
}

/// A unique or primary-key constraint refused the statement.
fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error(),
        Some(failure) if matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    )
}

/// One process holds the data directory (SQLite is not shared between hosts), so every message
/// is this process's: there is nothing to renew, claim from another instance, or fence.
#[async_trait]
impl Leases for EmbeddedStore {
    fn holder(&self) -> &LeaseHolder {
        &self.inner.holder
    }

    async fn renew_leases(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn claim_at_start(&self) -> Result<Vec<Message>, StoreError> {
        self.unfinished_messages().await
    }

    async fn claim_expired(&self, _max: usize) -> Result<Vec<Message>, StoreError> {
        Ok(Vec::new())
    }

    async fn held(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.message(id).await?.filter(|m| !m.status.is_final()))
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| {
            // A real read of the file, not a constant: proves the file is there and readable.
            schema::user_version(tx).map(|_| ())
        })
        .await
    }

    async fn commit_with_statistics(
        &self,
        writes: &[MessageWrite],
        stats: &[StatsDelta],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if writes.is_empty() && stats.is_empty() {
            return Ok(Vec::new());
        }
        let (writes, stats) = (writes.to_vec(), stats.to_vec());
        self.write(move |tx| {
            let outcomes = messages::apply(tx, &writes)?;
            statistics::add(tx, &stats)?;
            Ok(outcomes)
        })
        .await
    }

    async fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        let id = id.clone();
        self.read(move |tx| messages::by_id(tx, &id)).await
    }

    async fn message_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let (provider, token) = (provider.to_owned(), provider_message_id.to_owned());
        self.read(move |tx| messages::by_provider_id(tx, &provider, &token))
            .await
    }

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
        let key = key.to_owned();
        self.read(move |tx| messages::by_idempotency_key(tx, &key))
            .await
    }

    async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |tx| messages::list(tx, &filter, &page))
            .await
    }

    async fn unfinished_messages(&self) -> Result<Vec<Message>, StoreError> {
        self.read(messages::unfinished).await
    }

    async fn providers(&self) -> Result<Vec<ProviderConfig>, StoreError> {
        self.read(providers::all).await
    }

    async fn provider(&self, id: &ProviderId) -> Result<Option<ProviderConfig>, StoreError> {
        let id = id.clone();
        self.read(move |tx| providers::by_id(tx, &id)).await
    }

    async fn insert_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        let provider = provider.clone();
        self.write(move |tx| providers::insert(tx, &provider)).await
    }

    async fn update_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        let provider = provider.clone();
        self.write(move |tx| providers::update(tx, &provider)).await
    }

    async fn delete_provider(&self, id: &ProviderId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |tx| providers::delete(tx, &id)).await
    }

    async fn set_default_provider(&self, id: &ProviderId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| providers::set_default(tx, &id)).await
    }

    async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
        let query = query.clone();
        self.read(move |tx| statistics::query(tx, &query)).await
    }

    async fn rebuild_statistics(&self, day: NaiveDate) -> Result<StatsRebuild, StoreError> {
        self.write(move |tx| statistics::rebuild(tx, day)).await
    }
}

#[cfg(test)]
mod tests;
