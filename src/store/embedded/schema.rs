//! The embedded store's schema: connection settings and the migrations that build the tables.
//!
//! Migrations are a list applied in order, the count applied so far kept in `PRAGMA
//! user_version`; each runs in its own transaction with the version bump, so a crash between two
//! leaves a database that the next start carries on from. Never edit a released step: append one.

use super::sqlite_error;
use rusqlite::{Connection, TransactionBehavior};
use smsgate_actors::ports::StoreError;
use std::time::Duration;

/// How long a statement waits for a lock held by another connection (a checkpoint, a second
/// process on the same file) before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The condition on the statuses `unfinished_messages` returns. SQLite only uses a partial index
/// when the query repeats the index's condition word for word, so both are built from this one
/// constant; a test checks it against `MessageStatus::is_final`. `=`s joined by OR, not an IN
/// list: SQLite evaluates an IN list of more than two values through a temporary table, and it
/// evaluates this condition for every insert and status change (migration 6).
pub(super) const UNFINISHED_STATUSES: &str =
    "status = 'QUEUED' OR status = 'SENDING' OR status = 'SENT' OR status = 'RETRYING'";

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the seed's MongoDB collections as tables. Times are RFC 3339 UTC text with nine
    // fractional digits, so text order is time order; money is integer millicents.
    r"
    CREATE TABLE sms_providers (
        id            TEXT PRIMARY KEY NOT NULL,
        name          TEXT NOT NULL,
        slug          TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        is_active     INTEGER NOT NULL,
        is_default    INTEGER NOT NULL,
        priority      INTEGER NOT NULL,
        features      TEXT NOT NULL,
        sender_id     TEXT,
        api_base_url  TEXT,
        credentials   TEXT,
        api_key_hint  TEXT,
        settings      TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    ) STRICT;
    -- At most one default, whatever a writer gets wrong.
    CREATE UNIQUE INDEX sms_providers_one_default ON sms_providers (is_default)
        WHERE is_default = 1;

    CREATE TABLE sms_logs (
        id              TEXT PRIMARY KEY NOT NULL,
        phone_number    TEXT NOT NULL,
        message         TEXT NOT NULL,
        message_type    TEXT NOT NULL,
        sender          TEXT,
        pinned_provider TEXT,
        idempotency_key TEXT UNIQUE,
        status          TEXT NOT NULL,
        provider        TEXT,
        response_token  TEXT,
        encoding        TEXT NOT NULL,
        segments        INTEGER NOT NULL,
        cost            INTEGER,
        attempts        INTEGER NOT NULL,
        error_kind      TEXT,
        error_message   TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        sent_at         TEXT,
        delivered_at    TEXT,
        expires_at      TEXT NOT NULL
    ) STRICT;
    -- Each listing filter with id second, so a filtered page is an index range walked newest
    -- first that stops after `first + 1` rows.
    CREATE INDEX sms_logs_status ON sms_logs (status, id);
    CREATE INDEX sms_logs_provider ON sms_logs (provider, id);
    CREATE INDEX sms_logs_message_type ON sms_logs (message_type, id);
    CREATE INDEX sms_logs_phone_number ON sms_logs (phone_number, id);
    CREATE INDEX sms_logs_created_at ON sms_logs (created_at, id);
    -- id last so that the newest match needs no sort: without it the planner prefers walking
    -- sms_logs_provider in id order, every message of the provider.
    CREATE INDEX sms_logs_receipt ON sms_logs (provider, response_token, id);
    CREATE INDEX sms_logs_unfinished ON sms_logs (id)
        WHERE status IN ('QUEUED', 'SENDING', 'SENT', 'RETRYING');

    CREATE TABLE sms_events (
        message_id    TEXT NOT NULL REFERENCES sms_logs (id) ON DELETE CASCADE,
        seq           INTEGER NOT NULL,
        status        TEXT NOT NULL,
        at            TEXT NOT NULL,
        provider      TEXT,
        error_kind    TEXT,
        error_message TEXT,
        PRIMARY KEY (message_id, seq)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE sms_statistics (
        day             TEXT NOT NULL,
        provider        TEXT NOT NULL,
        message_type    TEXT NOT NULL,
        sent            INTEGER NOT NULL,
        delivered       INTEGER NOT NULL,
        failed          INTEGER NOT NULL,
        cost            INTEGER NOT NULL,
        delivery_ms_sum INTEGER NOT NULL,
        delivery_count  INTEGER NOT NULL,
        PRIMARY KEY (day, provider, message_type)
    ) STRICT, WITHOUT ROWID;
    ",
    // Named API tokens (src/access.rs): only the SHA-256 digest of each token is kept; the
    // unique digest index is how a presented token is found.
    r"
    CREATE TABLE api_tokens (
        id          TEXT PRIMARY KEY NOT NULL,
        name        TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL,
        digest      BLOB NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    ) STRICT;
    ",
    // The audit log (src/audit.rs): append-only, each row chained to the one before by hash.
    // `seq` counts from 1 without gaps, so a removed row shows as a gap too.
    r"
    CREATE TABLE audit_log (
        seq         INTEGER PRIMARY KEY NOT NULL,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        target      TEXT,
        before      TEXT,
        after       TEXT,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_log_action ON audit_log (action, seq);
    ",
    // 4: statistics per UTC hour with a histogram of delivery times (actors/src/domain/stats),
    // so that DAY and HOUR figures and a p95 all come from stored rows. Rows kept before this
    // step have no hour: they move to hour 0 of their day, without a histogram (`smsgate stats
    // rebuild --day` recomputes a day from the logs). Events are indexed by time for the rebuild,
    // and messages by error kind for the listing.
    r"
    CREATE TABLE sms_statistics_hourly (
        day                TEXT NOT NULL,
        hour               INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
        provider           TEXT NOT NULL,
        message_type       TEXT NOT NULL,
        sent               INTEGER NOT NULL,
        delivered          INTEGER NOT NULL,
        failed             INTEGER NOT NULL,
        cost               INTEGER NOT NULL,
        delivery_ms_sum    INTEGER NOT NULL,
        delivery_count     INTEGER NOT NULL,
        delivery_histogram TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (day, hour, provider, message_type)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO sms_statistics_hourly (day, hour, provider, message_type, sent, delivered,
        failed, cost, delivery_ms_sum, delivery_count)
        SELECT day, 0, provider, message_type, sent, delivered, failed, cost, delivery_ms_sum,
            delivery_count FROM sms_statistics;
    DROP TABLE sms_statistics;
    ALTER TABLE sms_statistics_hourly RENAME TO sms_statistics;
    CREATE INDEX sms_events_at ON sms_events (at);
    -- The listing's error-kind filter, walked newest first like the others.
    CREATE INDEX sms_logs_error_kind ON sms_logs (error_kind, id);
    ",
    // 5: every alert notice (src/store/embedded/alerts.rs), newest first by
    // (at, id, notice); one alert's notices share its id.
    r"
    CREATE TABLE alerts (
        id          TEXT NOT NULL,
        notice      INTEGER NOT NULL,
        rule        TEXT NOT NULL,
        subject     TEXT NOT NULL,
        state       TEXT NOT NULL,
        severity    TEXT NOT NULL,
        message     TEXT NOT NULL,
        fired_at    TEXT NOT NULL,
        at          TEXT NOT NULL,
        details     TEXT NOT NULL,
        PRIMARY KEY (id, notice)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX alerts_at ON alerts (at, id, notice);
    CREATE INDEX alerts_rule ON alerts (rule, at, id, notice);
    ",
    // 6: the write path's index upkeep. The unfinished-messages index gets its condition as ORed
    // `=`s (see UNFINISHED_STATUSES): the IN list made SQLite build and free two temporary
    // tables on every status change, about a fifth of the instructions of a whole send. The
    // error-kind index keeps only messages with an error: the listing's `error_kind = ?` never
    // matches the others, and every insert and status change of a message without one no longer
    // rewrites an entry. Same rows, same order, same plans.
    r"
    DROP INDEX sms_logs_unfinished;
    CREATE INDEX sms_logs_unfinished ON sms_logs (id)
        WHERE status = 'QUEUED' OR status = 'SENDING' OR status = 'SENT' OR status = 'RETRYING';
    DROP INDEX sms_logs_error_kind;
    CREATE INDEX sms_logs_error_kind ON sms_logs (error_kind, id) WHERE error_kind IS NOT NULL;
    ",
    // 7: the name of the token that sent each message (a service token reads only its own),
    // walked newest first like the other listing filters. Older messages have none.
    r"
    ALTER TABLE sms_logs ADD COLUMN sent_by TEXT;
    CREATE INDEX sms_logs_sent_by ON sms_logs (sent_by, id) WHERE sent_by IS NOT NULL;
    ",
    // 8: webhook path secrets (below).
    WEBHOOK_SECRETS,
];

/// The migration that gives every provider of a kind with unsigned receipts (SMSO, Vonage) its
/// webhook path secret: 256 bits from SQLite's `randomblob` (a CSPRNG seeded by the operating
/// system). Their webhook URLs change: the old ones answer 404 from then on. `migrate` logs
/// what the admin has to do about it.
const WEBHOOK_SECRETS: &str = r"
    ALTER TABLE sms_providers ADD COLUMN webhook_secret TEXT;
    UPDATE sms_providers SET webhook_secret = lower(hex(randomblob(32)))
        WHERE kind IN ('SMSO', 'VONAGE');
    ";

/// The schema version this build writes: the number of migrations.
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Settings every connection needs; they are per connection, so each one gets them on open.
pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sqlite_error)?;
    // Each distinct filter combination is its own statement text; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

/// The writer's settings: WAL so readers never wait for it, and FULL sync so that a commit that
/// returned has reached the disk (an accepted message must survive a power cut).
pub(super) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    configure(conn)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sqlite_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(
            format!("the database refused WAL mode (it is in {mode} mode)").into(),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite_error)?;
    Ok(())
}

/// Readers never write: `query_only` turns a bug that tries into an error instead of a second
/// writer.
pub(super) fn configure_reader(conn: &Connection) -> Result<(), StoreError> {
    configure(conn)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite_error)
}

/// Brings the schema up to `current_version`. Safe at every start: applied steps are skipped.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version = user_version(conn)?;
    if !(0..=current_version()).contains(&version) {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is not one this smsgate knows (0 to {})",
            current_version()
        )));
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        // IMMEDIATE: a second process starting at the same time waits here instead of applying
        // the same step twice.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        if user_version(&tx)? > index as i64 {
            continue;
        }
        tx.execute_batch(step).map_err(sqlite_error)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(sqlite_error)?;
        tx.commit().map_err(sqlite_error)?;
        if *step == WEBHOOK_SECRETS {
            warn_of_new_webhook_secrets(conn)?;
        }
    }
    Ok(())
}

/// Names the providers whose webhook URLs the webhook-secret migration changed (never the
/// secrets): SMSO and Vonage get the new URL with each send, but a URL set by hand at the
/// provider (Vonage's account-wide delivery receipt URL) must be replaced after a rotation.
fn warn_of_new_webhook_secrets(conn: &Connection) -> Result<(), StoreError> {
    let mut statement = conn
        .prepare("SELECT slug FROM sms_providers WHERE webhook_secret IS NOT NULL")
        .map_err(sqlite_error)?;
    let slugs = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sqlite_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_error)?;
    for slug in slugs {
        tracing::warn!(provider = ?slug, "this provider's webhook URL now carries a secret and its old URL answers 404; run rotateWebhookSecret to see the new URL and set it wherever it was configured at the provider");
    }
    Ok(())
}

pub(super) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sqlite_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smsgate_actors::domain::MessageStatus;

    #[test]
    fn the_unfinished_statuses_are_exactly_the_non_final_ones() {
        let expected = MessageStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .map(|s| format!("status = '{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(" OR ");
        assert_eq!(UNFINISHED_STATUSES, expected);
        let last_definition = MIGRATIONS
            .iter()
            .rev()
            .find(|step| step.contains("CREATE INDEX sms_logs_unfinished"));
        assert!(
            last_definition.is_some_and(|step| step
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&format!("WHERE {UNFINISHED_STATUSES};"))),
            "the partial index must use the same condition as the query"
        );
    }

    /// A temporary table per write (an IN list in an index condition, an INSERT ... SELECT
    /// from the same table) cost a fifth of a send's instructions: the write path has none.
    #[test]
    fn the_write_path_needs_no_temporary_tables() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory().map_err(sqlite_error)?;
        migrate(&mut conn)?;
        for sql in super::super::messages::WRITE_STATEMENTS {
            let mut explain = conn
                .prepare(&format!("EXPLAIN {sql}"))
                .map_err(sqlite_error)?;
            // Unbound parameters are NULL: EXPLAIN only lists the program.
            let mut rows = explain.raw_query();
            let mut opcodes: Vec<String> = Vec::new();
            while let Some(row) = rows.next().map_err(sqlite_error)? {
                opcodes.push(row.get(1).map_err(sqlite_error)?);
            }
            assert!(opcodes.len() > 3, "{sql}: {opcodes:?}");
            assert!(
                !opcodes.iter().any(|op| op == "OpenEphemeral"),
                "{sql} opens a temporary table"
            );
        }
        Ok(())
    }

    /// The error-kind index keeps only messages with an error; the listing still walks it.
    #[test]
    fn the_error_kind_listing_walks_its_index() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory().map_err(sqlite_error)?;
        migrate(&mut conn)?;
        let mut plan = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM sms_logs WHERE 1 = 1 AND error_kind = ?1 \
                 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(sqlite_error)?;
        let mut rows = plan.raw_query();
        let mut steps: Vec<String> = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_error)? {
            steps.push(row.get(3).map_err(sqlite_error)?);
        }
        assert!(
            steps.iter().any(|s| s.contains("sms_logs_error_kind")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        Ok(())
    }

    #[test]
    fn migrating_twice_changes_nothing() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory().map_err(sqlite_error)?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        assert_eq!(user_version(&conn)?, current_version());
        Ok(())
    }
}
