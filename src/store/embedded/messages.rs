//! Messages and their events in SQLite: batched writes, lookups, and the newest-first listing.

use super::rows::{
    error_kind_to_sql, error_message_to_sql, time_to_sql, EventRow, MessageRow, EVENT_COLUMNS,
    MESSAGE_COLUMNS,
};
use super::schema::UNFINISHED_STATUSES;
use super::{is_unique_violation, sqlite_error};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use smsgate_actors::domain::{Message, MessageEvent, MessageFilter, MessageId, Page, PageRequest};
use smsgate_actors::ports::lease::previous_status;
use smsgate_actors::ports::{MessageWrite, StoreError, WriteOutcome};
use std::collections::{HashMap, HashSet};

const INSERT_MESSAGE: &str = "INSERT INTO sms_logs (id, phone_number, message, message_type, \
    sender, pinned_provider, idempotency_key, status, provider, response_token, encoding, \
    segments, cost, attempts, error_kind, error_message, created_at, updated_at, sent_at, \
    delivered_at, expires_at, sent_by) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21, ?22)";

/// The mutable columns; what an insert fixed (recipient, body, type, key, expiry) stays.
const UPDATE_MESSAGE: &str = "UPDATE sms_logs SET status = ?2, provider = ?3, \
    response_token = ?4, segments = ?5, cost = ?6, attempts = ?7, error_kind = ?8, \
    error_message = ?9, updated_at = ?10, sent_at = ?11, delivered_at = ?12 WHERE id = ?1";

const INSERT_EVENT: &str = "INSERT INTO sms_events (message_id, seq, status, at, provider, \
    error_kind, error_message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Where an appended event goes: after the message's last one; the primary key makes `MAX(seq)`
/// one index probe. Read apart from the insert (same transaction, the only writer): an
/// `INSERT ... SELECT` from the table it inserts into copies the row through a temporary table
/// first, which cost more than the whole rest of the append on the send path.
const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM sms_events WHERE message_id = ?1";

/// Every statement of an accepted message and its status changes, for the schema test that
/// keeps temporary tables off this path.
#[cfg(test)]
pub(super) const WRITE_STATEMENTS: [&str; 5] = [
    INSERT_MESSAGE,
    UPDATE_MESSAGE,
    INSERT_EVENT,
    NEXT_SEQ,
    ID_BY_IDEMPOTENCY_KEY,
];

const ID_BY_IDEMPOTENCY_KEY: &str = "SELECT id FROM sms_logs WHERE idempotency_key = ?1";

/// Applies a batch inside the caller's transaction, one outcome per write. An update of a message
/// that is not stored is a caller bug: it fails the batch (NotFound) and nothing is kept.
pub(super) fn apply(
    conn: &Connection,
    writes: &[MessageWrite],
) -> Result<Vec<WriteOutcome>, StoreError> {
    // Only a message's last snapshot in the batch needs its row rewritten: a receipt often
    // lands in the same commit as the answer to the send, and each UPDATE touches several
    // indexes. Every event is still appended, in order.
    let mut last_update: HashMap<&str, usize> = HashMap::new();
    for (i, write) in writes.iter().enumerate() {
        if let MessageWrite::Update { message, .. } = write {
            last_update.insert(message.id.as_str(), i);
        }
    }
    // One process writes here, so there is no lease to fence; the status is still checked, so
    // a stale change can never overwrite a newer (or final) state.
    let mut checked: HashSet<&str> = HashSet::new();
    let mut lost = Vec::new();
    let mut outcomes = Vec::with_capacity(writes.len());
    for (i, write) in writes.iter().enumerate() {
        match write {
            MessageWrite::Insert(message) => outcomes.push(insert(conn, message)?),
            MessageWrite::Update { message, event } => {
                if checked.insert(message.id.as_str()) && !status_is(conn, message, write)? {
                    lost.push(message.id.clone());
                    continue;
                }
                let row_too = last_update.get(message.id.as_str()) == Some(&i);
                update(conn, message, event, row_too)?;
                outcomes.push(WriteOutcome::Applied);
            }
        }
    }
    if !lost.is_empty() {
        return Err(StoreError::LeaseLost(lost));
    }
    Ok(outcomes)
}

/// Whether the stored message still has the status this change was made from. A message that is
/// not stored passes: the update then reports it NotFound.
fn status_is(conn: &Connection, m: &Message, write: &MessageWrite) -> Result<bool, StoreError> {
    let Some(from) = previous_status(write) else {
        return Ok(true);
    };
    let stored: Option<String> = conn
        .prepare_cached("SELECT status FROM sms_logs WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![m.id.as_str()], |row| row.get(0))
                .optional()
        })
        .map_err(sqlite_error)?;
    Ok(stored.is_none_or(|s| s == from.as_str()))
}

fn insert(conn: &Connection, m: &Message) -> Result<WriteOutcome, StoreError> {
    // Checked first rather than caught from the unique index: a failed statement would need a
    // savepoint per write to keep the rest of the batch, and the check is one index probe.
    // Keys inserted earlier in the same batch are seen too: it is the same transaction.
    if let Some(key) = &m.idempotency_key {
        let existing: Option<String> = conn
            .prepare_cached(ID_BY_IDEMPOTENCY_KEY)
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
            .map_err(sqlite_error)?;
        if let Some(id) = existing {
            return Ok(WriteOutcome::DuplicateIdempotencyKey(
                MessageId::from_stored(id),
            ));
        }
    }
    let mut stmt = conn.prepare_cached(INSERT_MESSAGE).map_err(sqlite_error)?;
    stmt.execute(params![
        m.id.as_str(),
        m.to.as_str(),
        m.body,
        m.message_type.as_str(),
        m.sender,
        m.pinned_provider,
        m.idempotency_key,
        m.status.as_str(),
        m.provider,
        m.provider_message_id,
        m.encoding.as_str(),
        m.segments,
        m.cost.map(|c| c.millicents()),
        m.attempts,
        error_kind_to_sql(m.error.as_ref()),
        error_message_to_sql(m.error.as_ref()),
        time_to_sql(&m.created_at),
        time_to_sql(&m.updated_at),
        m.sent_at.as_ref().map(time_to_sql),
        m.delivered_at.as_ref().map(time_to_sql),
        time_to_sql(&m.expires_at),
        m.sent_by,
    ])
    .map_err(|err| {
        if is_unique_violation(&err) {
            StoreError::Conflict(format!("message {}", m.id))
        } else {
            sqlite_error(err)
        }
    })?;
    let mut stmt = conn.prepare_cached(INSERT_EVENT).map_err(sqlite_error)?;
    for (seq, event) in m.events.iter().enumerate() {
        stmt.execute(params![
            m.id.as_str(),
            seq as i64,
            event.status.as_str(),
            time_to_sql(&event.at),
            event.provider,
            error_kind_to_sql(event.error.as_ref()),
            error_message_to_sql(event.error.as_ref()),
        ])
        .map_err(sqlite_error)?;
    }
    Ok(WriteOutcome::Applied)
}

fn update(
    conn: &Connection,
    m: &Message,
    event: &MessageEvent,
    row_too: bool,
) -> Result<(), StoreError> {
    if row_too {
        update_row(conn, m)?;
    }
    append_event(conn, m, event)
}

fn update_row(conn: &Connection, m: &Message) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(UPDATE_MESSAGE)
        .and_then(|mut stmt| {
            stmt.execute(params![
                m.id.as_str(),
                m.status.as_str(),
                m.provider,
                m.provider_message_id,
                m.segments,
                m.cost.map(|c| c.millicents()),
                m.attempts,
                error_kind_to_sql(m.error.as_ref()),
                error_message_to_sql(m.error.as_ref()),
                time_to_sql(&m.updated_at),
                m.sent_at.as_ref().map(time_to_sql),
                m.delivered_at.as_ref().map(time_to_sql),
            ])
        })
        .map_err(sqlite_error)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("message {}", m.id)));
    }
    Ok(())
}

fn append_event(conn: &Connection, m: &Message, event: &MessageEvent) -> Result<(), StoreError> {
    let seq: i64 = conn
        .prepare_cached(NEXT_SEQ)
        .and_then(|mut stmt| stmt.query_row([m.id.as_str()], |row| row.get(0)))
        .map_err(sqlite_error)?;
    conn.prepare_cached(INSERT_EVENT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                m.id.as_str(),
                seq,
                event.status.as_str(),
                time_to_sql(&event.at),
                event.provider,
                error_kind_to_sql(event.error.as_ref()),
                error_message_to_sql(event.error.as_ref()),
            ])
        })
        .map_err(sqlite_error)?;
    Ok(())
}

pub(super) fn by_id(conn: &Connection, id: &MessageId) -> Result<Option<Message>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM sms_logs WHERE id = ?1");
    let rows = query_rows(conn, &sql, vec![Value::Text(id.as_str().to_owned())])?;
    Ok(with_events(conn, rows)?.pop())
}

/// The newest message the provider knows by this id: a receipt names the provider's id only.
pub(super) fn by_provider_id(
    conn: &Connection,
    provider: &str,
    token: &str,
) -> Result<Option<Message>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM sms_logs WHERE provider = ?1 AND response_token = ?2 \
         ORDER BY id DESC LIMIT 1"
    );
    let args = vec![Value::Text(provider.into()), Value::Text(token.into())];
    Ok(with_events(conn, query_rows(conn, &sql, args)?)?.pop())
}

pub(super) fn by_idempotency_key(
    conn: &Connection,
    key: &str,
) -> Result<Option<Message>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM sms_logs WHERE idempotency_key = ?1");
    let rows = query_rows(conn, &sql, vec![Value::Text(key.into())])?;
    Ok(with_events(conn, rows)?.pop())
}

/// Newest first by id: ids are UUIDv7, so id order is creation order, and an id is a cursor
/// that stays put while new messages arrive.
pub(super) fn list(
    conn: &Connection,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<Message>, StoreError> {
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM sms_logs WHERE 1 = 1");
    let mut args = Vec::new();
    // Only the filters given go into the statement, so each can use its own index; every
    // combination is its own cached statement.
    let mut narrow = |clause: &str, value: Value| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(status) = filter.status {
        narrow(" AND status = ?", Value::Text(status.as_str().into()));
    }
    if let Some(provider) = &filter.provider {
        narrow(" AND provider = ?", Value::Text(provider.clone()));
    }
    if let Some(message_type) = filter.message_type {
        narrow(
            " AND message_type = ?",
            Value::Text(message_type.as_str().into()),
        );
    }
    if let Some(to) = &filter.to {
        narrow(" AND phone_number = ?", Value::Text(to.as_str().into()));
    }
    if let Some(from) = &filter.created_from {
        narrow(" AND created_at >= ?", Value::Text(time_to_sql(from)));
    }
    if let Some(to) = &filter.created_to {
        narrow(" AND created_at < ?", Value::Text(time_to_sql(to)));
    }
    if let Some(kind) = filter.error_kind {
        narrow(" AND error_kind = ?", Value::Text(kind.as_str().into()));
    }
    if let Some(sent_by) = &filter.sent_by {
        narrow(" AND sent_by = ?", Value::Text(sent_by.clone()));
    }
    if let Some(after) = &page.after {
        narrow(" AND id < ?", Value::Text(after.as_str().into()));
    }
    // One row more than asked tells whether another page follows.
    let limit = i64::try_from(page.first.saturating_add(1)).unwrap_or(i64::MAX);
    narrow(" ORDER BY id DESC LIMIT ?", Value::Integer(limit));

    let mut rows = query_rows(conn, &sql, args)?;
    let has_next_page = rows.len() > page.first;
    rows.truncate(page.first);
    Ok(Page {
        items: with_events(conn, rows)?,
        has_next_page,
    })
}

/// Oldest first: a restart picks messages up in the order they were accepted.
pub(super) fn unfinished(conn: &Connection) -> Result<Vec<Message>, StoreError> {
    // Left alone, the planner takes sms_logs_status and sorts; the partial index holds only
    // these rows, already in id order.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM sms_logs INDEXED BY sms_logs_unfinished \
         WHERE {UNFINISHED_STATUSES} ORDER BY id"
    );
    with_events(conn, query_rows(conn, &sql, Vec::new())?)
}

fn query_rows(
    conn: &Connection,
    sql: &str,
    args: Vec<Value>,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), MessageRow::read)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_error)?;
    Ok(rows)
}

/// Loads the events of all `rows` in one query (the ids go in as one JSON array) and builds the
/// messages, in the order of `rows`.
fn with_events(conn: &Connection, rows: Vec<MessageRow>) -> Result<Vec<Message>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let ids = serde_json::to_string(&ids).map_err(|err| StoreError::Unavailable(Box::new(err)))?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM sms_events \
         WHERE message_id IN (SELECT value FROM json_each(?1)) ORDER BY message_id, seq"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_error)?;
    let event_rows = stmt
        .query_map([ids], EventRow::read)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_error)?;
    let mut events: HashMap<String, Vec<MessageEvent>> = HashMap::with_capacity(rows.len());
    for row in event_rows {
        let message_id = row.message_id.clone();
        events
            .entry(message_id)
            .or_default()
            .push(row.into_event()?);
    }
    rows.into_iter()
        .map(|row| {
            let own = events.remove(&row.id).unwrap_or_default();
            row.into_message(own)
        })
        .collect()
}
