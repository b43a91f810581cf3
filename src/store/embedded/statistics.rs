//! Per hour, per provider, per message type counters in SQLite, added to in place, and the
//! rebuild of a day's rows from the logs.

use super::messages;
use super::rows::{
    day_to_sql, histogram_from_sql, histogram_to_sql, time_to_sql, StatsRow, STATS_COLUMNS,
};
use super::sqlite_error;
use rusqlite::{params, Connection};
use smsgate_actors::domain::stats::{hour_start, merge_rows, rows_for_day, StatsRebuild};
use smsgate_actors::domain::{MessageId, StatsDelta, StatsQuery};
use smsgate_actors::ports::StoreError;

/// Adds in the database rather than read-modify-write, so no delta is lost between a read and a
/// write, whoever else adds to the same row.
const ADD: &str = "INSERT INTO sms_statistics (day, hour, provider, message_type, sent, \
    delivered, failed, cost, delivery_ms_sum, delivery_count) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (day, hour, provider, message_type) DO UPDATE SET \
    sent = sent + excluded.sent, delivered = delivered + excluded.delivered, \
    failed = failed + excluded.failed, cost = cost + excluded.cost, \
    delivery_ms_sum = delivery_ms_sum + excluded.delivery_ms_sum, \
    delivery_count = delivery_count + excluded.delivery_count \
    RETURNING delivery_histogram";

/// The row's histogram after merging; the key as in `ADD`.
const SET_HISTOGRAM: &str = "UPDATE sms_statistics SET delivery_histogram = ?5 \
    WHERE day = ?1 AND hour = ?2 AND provider = ?3 AND message_type = ?4";

/// Runs inside the caller's write transaction. The histogram is read (returned by the add, so no
/// second look-up), merged and written back, only when the delta has deliveries: the embedded
/// store has one writer, and the transaction holds it, so nobody adds in between.
pub(super) fn add(conn: &Connection, deltas: &[StatsDelta]) -> Result<(), StoreError> {
    let mut add = conn.prepare_cached(ADD).map_err(sqlite_error)?;
    for d in deltas {
        let day = day_to_sql(d.day);
        let stored: String = add
            .query_row(
                params![
                    day,
                    d.hour,
                    d.provider,
                    d.message_type.as_str(),
                    d.sent,
                    d.delivered,
                    d.failed,
                    d.cost.millicents(),
                    d.delivery_ms_sum,
                    d.delivery_count,
                ],
                |row| row.get(0),
            )
            .map_err(sqlite_error)?;
        if d.delivery_histogram.is_empty() {
            continue;
        }
        let mut histogram = histogram_from_sql(&stored)?;
        histogram.merge(&d.delivery_histogram);
        conn.prepare_cached(SET_HISTOGRAM)
            .and_then(|mut s| {
                s.execute(params![
                    day,
                    d.hour,
                    d.provider,
                    d.message_type.as_str(),
                    histogram_to_sql(&histogram)
                ])
            })
            .map_err(sqlite_error)?;
    }
    Ok(())
}

/// Rows with `from <= day <= to`, for one provider and type when asked, sorted by day, hour,
/// provider, type.
pub(super) fn query(conn: &Connection, q: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
    let sql = format!(
        "SELECT {STATS_COLUMNS} FROM sms_statistics \
         WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR provider = ?3) \
         AND (?4 IS NULL OR message_type = ?4) \
         ORDER BY day, hour, provider, message_type"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_error)?;
    let rows = stmt
        .query_map(
            params![
                day_to_sql(q.from),
                day_to_sql(q.to),
                q.provider,
                q.message_type.map(|t| t.as_str())
            ],
            StatsRow::read,
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_error)?;
    rows.into_iter().map(StatsRow::into_delta).collect()
}

/// Runs inside the caller's write transaction: what the logs say for `day` replaces that day's
/// rows, and nothing else can commit between the read and the replace.
pub(super) fn rebuild(
    conn: &Connection,
    day: chrono::NaiveDate,
) -> Result<StatsRebuild, StoreError> {
    let start = hour_start(day, 0);
    let end = start + chrono::Duration::days(1);
    let ids: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT message_id FROM sms_events WHERE at >= ?1 AND at < ?2")
        .and_then(|mut s| {
            s.query_map(params![time_to_sql(&start), time_to_sql(&end)], |r| {
                r.get(0)
            })?
            .collect()
        })
        .map_err(sqlite_error)?;
    let mut logged = Vec::with_capacity(ids.len());
    for id in ids {
        let id = MessageId::parse(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("sms_events.message_id holds {id:?}")))?;
        if let Some(message) = messages::by_id(conn, &id)? {
            logged.push(message);
        }
    }
    let after = rows_for_day(day, &logged);
    let mut q = StatsQuery::days(day, day);
    q.by_type = true;
    let before = merge_rows(query(conn, &q)?);
    conn.execute(
        "DELETE FROM sms_statistics WHERE day = ?1",
        params![day_to_sql(day)],
    )
    .map_err(sqlite_error)?;
    add(conn, &after)?;
    Ok(StatsRebuild { day, before, after })
}
