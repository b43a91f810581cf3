//! Per day, per provider, per message type counters in SQLite, added to in place.

use super::rows::{day_to_sql, StatsRow, STATS_COLUMNS};
use super::sqlite_error;
use rusqlite::{params, Connection};
use smsgate_actors::domain::{StatsDelta, StatsQuery};
use smsgate_actors::ports::StoreError;

/// Adds in the database rather than read-modify-write, so no delta is lost between a read and a
/// write, whoever else adds to the same row.
const ADD: &str = "INSERT INTO sms_statistics (day, provider, message_type, sent, delivered, \
    failed, cost, delivery_ms_sum, delivery_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
    ON CONFLICT (day, provider, message_type) DO UPDATE SET \
    sent = sent + excluded.sent, delivered = delivered + excluded.delivered, \
    failed = failed + excluded.failed, cost = cost + excluded.cost, \
    delivery_ms_sum = delivery_ms_sum + excluded.delivery_ms_sum, \
    delivery_count = delivery_count + excluded.delivery_count";

pub(super) fn add(conn: &Connection, deltas: &[StatsDelta]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(ADD).map_err(sqlite_error)?;
    for d in deltas {
        stmt.execute(params![
            day_to_sql(d.day),
            d.provider,
            d.message_type.as_str(),
            d.sent,
            d.delivered,
            d.failed,
            d.cost.millicents(),
            d.delivery_ms_sum,
            d.delivery_count,
        ])
        .map_err(sqlite_error)?;
    }
    Ok(())
}

/// Rows with `from <= day <= to`, for one provider when asked, sorted by day, provider, type.
pub(super) fn query(conn: &Connection, q: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
    let sql = format!(
        "SELECT {STATS_COLUMNS} FROM sms_statistics \
         WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR provider = ?3) \
         ORDER BY day, provider, message_type"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_error)?;
    let rows = stmt
        .query_map(
            params![day_to_sql(q.from), day_to_sql(q.to), q.provider],
            StatsRow::read,
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_error)?;
    rows.into_iter().map(StatsRow::into_delta).collect()
}
