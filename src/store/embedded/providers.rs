//! Configured providers in SQLite: unique slugs, and at most one default at any time.

use super::rows::{features_to_sql, time_to_sql, ProviderRow, PROVIDER_COLUMNS};
use super::{is_unique_violation, sqlite_error};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, ParamsFromIter};
use smsgate_actors::domain::{ProviderConfig, ProviderId};
use smsgate_actors::ports::StoreError;

const INSERT: &str = "INSERT INTO sms_providers (id, name, slug, kind, is_active, is_default, \
    priority, features, sender_id, api_base_url, credentials, api_key_hint, settings, \
    created_at, updated_at, webhook_secret) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Everything but the id and the creation time.
const UPDATE: &str = "UPDATE sms_providers SET name = ?2, slug = ?3, kind = ?4, \
    is_active = ?5, is_default = ?6, priority = ?7, features = ?8, sender_id = ?9, \
    api_base_url = ?10, credentials = ?11, api_key_hint = ?12, settings = ?13, \
    updated_at = ?15, webhook_secret = ?16 WHERE id = ?1";

/// Clears every default but `?1`'s; run before a provider becomes the default, because the
/// unique index on defaults is checked row by row, not at commit.
const CLEAR_OTHER_DEFAULTS: &str =
    "UPDATE sms_providers SET is_default = 0 WHERE is_default = 1 AND id <> ?1";

/// Default first, then by priority (lower first), then in creation order: the order failover
/// tries them in.
pub(super) fn all(conn: &Connection) -> Result<Vec<ProviderConfig>, StoreError> {
    let sql = format!(
        "SELECT {PROVIDER_COLUMNS} FROM sms_providers ORDER BY is_default DESC, priority, id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_error)?;
    let rows = stmt
        .query_map([], ProviderRow::read)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_error)?;
    rows.into_iter().map(ProviderRow::into_provider).collect()
}

pub(super) fn by_id(
    conn: &Connection,
    id: &ProviderId,
) -> Result<Option<ProviderConfig>, StoreError> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM sms_providers WHERE id = ?1");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row([id.as_str()], ProviderRow::read).optional())
        .map_err(sqlite_error)?
        .map(ProviderRow::into_provider)
        .transpose()
}

/// Inserting a provider marked default makes it the only default.
pub(super) fn insert(conn: &Connection, p: &ProviderConfig) -> Result<(), StoreError> {
    ensure_slug_free(conn, p)?;
    if p.is_default {
        clear_other_defaults(conn, &p.id)?;
    }
    conn.prepare_cached(INSERT)
        .and_then(|mut stmt| stmt.execute(provider_params(p)))
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::Conflict(format!("provider {}", p.id))
            } else {
                sqlite_error(err)
            }
        })?;
    Ok(())
}

/// Updating a provider to be the default makes it the only default.
pub(super) fn update(conn: &Connection, p: &ProviderConfig) -> Result<(), StoreError> {
    ensure_exists(conn, &p.id)?;
    ensure_slug_free(conn, p)?;
    if p.is_default {
        clear_other_defaults(conn, &p.id)?;
    }
    conn.prepare_cached(UPDATE)
        .and_then(|mut stmt| stmt.execute(provider_params(p)))
        .map_err(sqlite_error)?;
    Ok(())
}

pub(super) fn delete(conn: &Connection, id: &ProviderId) -> Result<bool, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM sms_providers WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([id.as_str()]))
        .map_err(sqlite_error)?;
    Ok(deleted > 0)
}

pub(super) fn set_default(conn: &Connection, id: &ProviderId) -> Result<(), StoreError> {
    ensure_exists(conn, id)?;
    clear_other_defaults(conn, id)?;
    conn.prepare_cached("UPDATE sms_providers SET is_default = 1 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([id.as_str()]))
        .map_err(sqlite_error)?;
    Ok(())
}

fn ensure_exists(conn: &Connection, id: &ProviderId) -> Result<(), StoreError> {
    let found = conn
        .prepare_cached("SELECT 1 FROM sms_providers WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id.as_str()]))
        .map_err(sqlite_error)?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("provider {id}")))
    }
}

/// Conflict when another provider already uses this slug.
fn ensure_slug_free(conn: &Connection, p: &ProviderConfig) -> Result<(), StoreError> {
    let taken = conn
        .prepare_cached("SELECT 1 FROM sms_providers WHERE slug = ?1 AND id <> ?2")
        .and_then(|mut stmt| stmt.exists([p.slug.as_str(), p.id.as_str()]))
        .map_err(sqlite_error)?;
    if taken {
        Err(StoreError::Conflict(format!("provider slug {:?}", p.slug)))
    } else {
        Ok(())
    }
}

fn clear_other_defaults(conn: &Connection, id: &ProviderId) -> Result<(), StoreError> {
    conn.prepare_cached(CLEAR_OTHER_DEFAULTS)
        .and_then(|mut stmt| stmt.execute([id.as_str()]))
        .map_err(sqlite_error)?;
    Ok(())
}

/// Owned values: several columns are built here (JSON, times), so nothing can borrow from them.
fn provider_params(p: &ProviderConfig) -> ParamsFromIter<[Value; 16]> {
    params_from_iter([
        Value::from(p.id.as_str().to_owned()),
        Value::from(p.name.clone()),
        Value::from(p.slug.clone()),
        Value::from(p.kind.as_str().to_owned()),
        Value::from(p.is_active),
        Value::from(p.is_default),
        Value::from(p.priority),
        Value::from(features_to_sql(&p.features)),
        Value::from(p.sender_id.clone()),
        Value::from(p.api_base_url.clone()),
        Value::from(p.credentials.clone()),
        Value::from(p.api_key_hint.clone()),
        Value::from(p.settings.to_string()),
        Value::from(time_to_sql(&p.created_at)),
        Value::from(time_to_sql(&p.updated_at)),
        Value::from(p.webhook_secret.clone()),
    ])
}
