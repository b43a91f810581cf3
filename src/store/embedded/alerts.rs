//! The embedded store's side of [`AlertLog`]: alert notices in the `alerts` table.

use super::rows::{time_from_sql, time_to_sql};
use super::{sqlite_error, EmbeddedStore};
use async_trait::async_trait;
use rusqlite::{params, types::Value as Sql, Connection, Row};
use smsgate_actors::{
    alerts::{Alert, AlertQuery, AlertRule, AlertState, Severity},
    ports::{AlertLog, StoreError},
};

const COLUMNS: &str = "id, notice, rule, subject, state, severity, message, fired_at, at, details";

type AlertRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn alert_row(row: &Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn corrupt(column: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("alerts.{column} {raw:?}"))
}

fn alert(raw: AlertRow) -> Result<Alert, StoreError> {
    let (id, notice, rule, subject, state, severity, message, fired_at, at, details) = raw;
    Ok(Alert {
        notice: u32::try_from(notice).map_err(|_| corrupt("notice", &notice.to_string()))?,
        rule: AlertRule::parse(&rule).ok_or_else(|| corrupt("rule", &rule))?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("severity", &severity))?,
        fired_at: time_from_sql("alerts.fired_at", &fired_at)?,
        at: time_from_sql("alerts.at", &at)?,
        details: serde_json::from_str(&details).map_err(|_| corrupt("details", &id))?,
        id,
        subject,
        message,
    })
}

fn insert(conn: &Connection, a: &Alert) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT OR IGNORE INTO alerts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            a.id,
            i64::from(a.notice),
            a.rule.as_str(),
            a.subject,
            a.state.as_str(),
            a.severity.as_str(),
            a.message,
            time_to_sql(&a.fired_at),
            time_to_sql(&a.at),
            a.details.to_string(),
        ],
    )
    .map_err(sqlite_error)?;
    Ok(())
}

fn history(conn: &Connection, query: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1 = 1");
    let mut args: Vec<Sql> = Vec::new();
    if let Some(rule) = query.rule {
        args.push(Sql::Text(rule.as_str().to_owned()));
        sql.push_str(&format!(" AND rule = ?{}", args.len()));
    }
    if let Some(state) = query.state {
        args.push(Sql::Text(state.as_str().to_owned()));
        sql.push_str(&format!(" AND state = ?{}", args.len()));
    }
    if let Some(before) = &query.before {
        args.push(Sql::Text(time_to_sql(&before.at)));
        args.push(Sql::Text(before.id.clone()));
        args.push(Sql::Integer(i64::from(before.notice)));
        let n = args.len();
        sql.push_str(&format!(
            " AND (at, id, notice) < (?{}, ?{}, ?{n})",
            n - 2,
            n - 1
        ));
    }
    args.push(Sql::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY at DESC, id DESC, notice DESC LIMIT ?{}",
        args.len()
    ));
    let mut statement = conn.prepare(&sql).map_err(sqlite_error)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(args), alert_row)
        .map_err(sqlite_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_error)?;
    rows.into_iter().map(alert).collect()
}

#[async_trait]
impl AlertLog for EmbeddedStore {
    async fn record_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let alert = alert.clone();
        self.write(move |conn| insert(conn, &alert)).await
    }

    async fn alert_history(&self, query: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
        let query = query.clone();
        self.read(move |conn| history(conn, &query)).await
    }
}
