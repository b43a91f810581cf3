//! The embedded store's audit log: the `audit_log` table, appended to in one write transaction
//! that reads the last hash and chains the new entry to it (the single writer connection makes
//! appends strictly one after another).

use super::sqlite_error;
use crate::audit::{entry_hash, time_text, ChainEntry, GENESIS};
use crate::store::decode::StoredAuditEntry;
use chrono::{DateTime, Utc};
use rusqlite::{params, types::Value as Sql, Connection, OptionalExtension, Row};
use smsgate_actors::domain::{AuditEntryView, AuditQuery, AuditRecord};
use smsgate_actors::ports::StoreError;

const COLUMNS: &str = "seq, at, actor, action, target, before, after, prev_hash, hash";

pub(super) fn append(
    conn: &Connection,
    record: AuditRecord,
    at: DateTime<Utc>,
) -> Result<AuditEntryView, StoreError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sqlite_error)?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_owned()));
    let seq = prev_seq + 1;
    let at_text = time_text(&at);
    let before = record.before.as_ref().map(|v| v.to_string());
    let after = record.after.as_ref().map(|v| v.to_string());
    let hash = entry_hash(
        &prev_hash,
        seq,
        &at_text,
        &record,
        before.as_deref(),
        after.as_deref(),
    );
    conn.execute(
        &format!("INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            seq,
            at_text,
            record.actor,
            record.action,
            record.target,
            before,
            after,
            prev_hash,
            hash
        ],
    )
    .map_err(sqlite_error)?;
    Ok(AuditEntryView {
        seq,
        at,
        record,
        hash,
    })
}

fn chain_entry(row: &Row<'_>) -> rusqlite::Result<StoredAuditEntry> {
    Ok(StoredAuditEntry {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        target: row.get(4)?,
        before: row.get(5)?,
        after: row.get(6)?,
        prev_hash: row.get(7)?,
        hash: row.get(8)?,
    })
}

pub(super) fn entries(
    conn: &Connection,
    query: &AuditQuery,
) -> Result<Vec<AuditEntryView>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut args: Vec<Sql> = Vec::new();
    for (column, value) in [
        ("action", &query.action),
        ("actor", &query.actor),
        ("target", &query.target),
    ] {
        if let Some(value) = value {
            args.push(Sql::Text(value.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    if let Some(before) = query.before_seq {
        args.push(Sql::Integer(before));
        sql.push_str(&format!(" AND seq < ?{}", args.len()));
    }
    args.push(Sql::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
    let mut statement = conn.prepare(&sql).map_err(sqlite_error)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(args), chain_entry)
        .map_err(sqlite_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_error)?;
    rows.into_iter()
        .map(|raw| raw.into_chain().map(|c| c.entry))
        .collect()
}

pub(super) fn chain(conn: &Connection) -> Result<Vec<ChainEntry>, StoreError> {
    let mut statement = conn
        .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
        .map_err(sqlite_error)?;
    let rows = statement
        .query_map([], chain_entry)
        .map_err(sqlite_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_error)?;
    rows.into_iter().map(StoredAuditEntry::into_chain).collect()
}
