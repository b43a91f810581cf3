//! The embedded store's side of [`AccessStore`] (API tokens in the `api_tokens` table) and of
//! [`AuditStore`] (the audit log, whose SQL is in `audit.rs`).

use super::audit;
use super::rows::{optional_time, time_from_sql, time_to_sql};
use super::{is_unique_violation, sqlite_error, EmbeddedStore};
use crate::access::{parse_role, AccessStore, StoredToken};
use crate::audit::{AuditStore, ChainEntry};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use smsgate_actors::domain::{AuditEntryView, AuditQuery, AuditRecord};
use smsgate_actors::ports::StoreError;

const COLUMNS: &str = "id, name, role, digest, created_at, revoked_at";

/// A row as SQLite hands it over, before it is checked into a `StoredToken`.
type TokenRow = (String, String, String, Vec<u8>, String, Option<String>);

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn token(raw: TokenRow) -> Result<StoredToken, StoreError> {
    let (id, name, role, digest, created_at, revoked_at) = raw;
    Ok(StoredToken {
        role: parse_role(&role)
            .map_err(|_| StoreError::Corrupt(format!("api_tokens.role {role:?}")))?,
        digest: digest
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("api_tokens.digest of {name}")))?,
        created_at: time_from_sql("api_tokens.created_at", &created_at)?,
        revoked_at: optional_time("api_tokens.revoked_at", revoked_at)?,
        id,
        name,
    })
}

fn by_name(conn: &Connection, name: &str) -> Result<Option<StoredToken>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_tokens WHERE name = ?1"),
        [name],
        token_from_row,
    )
    .optional()
    .map_err(sqlite_error)?
    .map(token)
    .transpose()
}

#[async_trait]
impl AccessStore for EmbeddedStore {
    async fn insert_token(&self, t: &StoredToken) -> Result<(), StoreError> {
        let t = t.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_tokens (id, name, role, digest, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.id,
                    t.name,
                    t.role.as_str(),
                    t.digest.as_slice(),
                    time_to_sql(&t.created_at),
                    t.revoked_at.as_ref().map(time_to_sql),
                ],
            )
            .map_err(|err| {
                if is_unique_violation(&err) {
                    StoreError::Conflict(format!("a token named {}", t.name))
                } else {
                    sqlite_error(err)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<StoredToken>, StoreError> {
        let digest = *digest;
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE digest = ?1"),
                [digest.as_slice()],
                token_from_row,
            )
            .optional()
            .map_err(sqlite_error)?
            .map(token)
            .transpose()
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        self.read(|conn| {
            let mut statement = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id"
                ))
                .map_err(sqlite_error)?;
            let rows = statement
                .query_map([], token_from_row)
                .map_err(sqlite_error)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_error)?;
            rows.into_iter().map(token).collect()
        })
        .await
    }

    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredToken>, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, time_to_sql(&at)],
            )
            .map_err(sqlite_error)?;
            by_name(conn, &name)
        })
        .await
    }
}

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn append_audit(
        &self,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEntryView, StoreError> {
        self.write(move |conn| audit::append(conn, record, at))
            .await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, StoreError> {
        let query = query.clone();
        self.read(move |conn| audit::entries(conn, &query)).await
    }

    async fn audit_chain(&self) -> Result<Vec<ChainEntry>, StoreError> {
        self.read(audit::chain).await
    }
}

#[cfg(test)]
mod tests {
    use crate::access::{create_token, digest, revoke_token, AccessError, AccessStore};
    use crate::store::EmbeddedStore;
    use smsgate_actors::domain::Role;

    #[tokio::test]
    async fn tokens_are_stored_as_digests_found_by_digest_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (token, stored) = create_token(&store, "billing", Role::Service)
            .await
            .unwrap();
        let found = store
            .token_by_digest(&digest(token.expose()))
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(&stored));
        assert!(store
            .token_by_digest(&digest("other"))
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            create_token(&store, "billing", Role::Viewer).await,
            Err(AccessError::Store(
                smsgate_actors::ports::StoreError::Conflict(_)
            ))
        ));

        let revoked = revoke_token(&store, "billing").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        let found = store
            .token_by_digest(&digest(token.expose()))
            .await
            .unwrap();
        assert!(found.unwrap().revoked_at.is_some());
        assert!(matches!(
            revoke_token(&store, "billing").await,
            Err(AccessError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            revoke_token(&store, "nobody").await,
            Err(AccessError::UnknownToken(_))
        ));
        drop(store);

        let bytes = std::fs::read(dir.path().join(crate::store::embedded::DB_FILE)).unwrap();
        let plain = token.expose().as_bytes();
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "the token itself is never stored"
        );
    }
}
