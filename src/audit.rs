//! The audit log of admin actions, chained by hash.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry itself (its
//! sequence number, time, actor, action, target and the stored before/after text), so editing
//! an entry changes its hash, and removing one breaks the link of the next: `smsgate audit
//! verify` recomputes the chain and names the first entry that does not fit.
//!
//! The chain detects changes made to the stored rows; it does not stop someone who can rewrite
//! the whole tail of the log and recompute every hash after it. Copy `audit verify`'s head hash
//! somewhere else now and then; `audit verify --head <hash>` then checks the chain still holds
//! it (anchored), which a rewrite of any entry up to it cannot fake.

use crate::access::AccessStore;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use smsgate_actors::{
    domain::{AuditEntryView, AuditQuery, AuditRecord},
    ports::{AuditPort, AuditUnavailable},
};
use std::sync::Arc;

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored entry with its link to the one before, and the texts exactly as stored (the hash
/// covers those, not a re-serialisation of them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEntry {
    pub entry: AuditEntryView,
    pub prev_hash: String,
    pub at_text: String,
    pub before_text: Option<String>,
    pub after_text: Option<String>,
}

/// The hash of an entry. `before` and `after` are the stored JSON texts; everything goes through
/// one JSON array, whose encoding is unambiguous (no field can pass for another).
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    record: &AuditRecord,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let body = serde_json::json!([
        seq,
        at,
        record.actor,
        record.action,
        record.target,
        before,
        after
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The time as it is stored and hashed.
pub fn time_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {missing} is missing (entry {found} follows entry {previous})")]
    Removed {
        previous: i64,
        missing: i64,
        found: i64,
    },
    #[error("entry {seq} does not link to the entry before it: an entry before it was removed or changed")]
    Unlinked { seq: i64 },
    #[error("entry {seq} was changed after it was written")]
    Edited { seq: i64 },
    /// The chain is consistent but does not hold the head hash kept earlier: it was rewritten
    /// (and re-hashed) up to or past that entry, or the kept hash is not from this log.
    #[error(
        "the kept head hash {kept} is not in the chain: the log was rewritten since it was kept"
    )]
    KeptHeadMissing { kept: String },
}

/// A chain that verified: its size and head, and where the kept head (if given) is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub count: usize,
    pub head: String,
    /// The entry whose hash is the kept head.
    pub anchored_at: Option<i64>,
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit log intact: {} entries; head hash {}",
            self.count, self.head
        )?;
        if let Some(seq) = self.anchored_at {
            write!(
                f,
                "; the kept head is entry {seq}, so entries 1 to {seq} are as they were when it was kept"
            )?;
        }
        Ok(())
    }
}

/// [`verify_chain`], then: the chain must hold the `kept` hash (compared case-insensitively,
/// spaces trimmed, as a person may paste it).
pub fn verify_anchored(entries: &[ChainEntry], kept: Option<&str>) -> Result<Verified, ChainBreak> {
    let (count, head) = verify_chain(entries)?;
    let anchored_at = match kept {
        None => None,
        Some(kept) => {
            let kept = kept.trim().to_ascii_lowercase();
            let entry = entries.iter().find(|c| c.entry.hash == kept);
            Some(
                entry
                    .map(|c| c.entry.seq)
                    .ok_or(ChainBreak::KeptHeadMissing { kept })?,
            )
        }
    };
    Ok(Verified {
        count,
        head,
        anchored_at,
    })
}

/// Checks the whole chain, oldest first. Ok holds the number of entries and the head hash.
pub fn verify_chain(entries: &[ChainEntry]) -> Result<(usize, String), ChainBreak> {
    let mut prev_hash = GENESIS.to_owned();
    let mut prev_seq = 0;
    for chain in entries {
        let e = &chain.entry;
        if e.seq != prev_seq + 1 {
            return Err(ChainBreak::Removed {
                previous: prev_seq,
                missing: prev_seq + 1,
                found: e.seq,
            });
        }
        if chain.prev_hash != prev_hash {
            return Err(ChainBreak::Unlinked { seq: e.seq });
        }
        let expected = entry_hash(
            &prev_hash,
            e.seq,
            &chain.at_text,
            &e.record,
            chain.before_text.as_deref(),
            chain.after_text.as_deref(),
        );
        if expected != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        prev_hash = e.hash.clone();
        prev_seq = e.seq;
    }
    Ok((entries.len(), prev_hash))
}

/// The audit log over the access store: the server's implementation of the GraphQL crate's
/// port, used by the REST routes and the command line too.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn AccessStore>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn AccessStore>) -> Self {
        Self { store }
    }

    /// Records an action; a failure is logged at error level and returned to callers that
    /// care (the command line fails; the API has already acted and only logs it).
    pub async fn record(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        let action = record.action.clone();
        match self.store.append_audit(record, Utc::now()).await {
            Ok(entry) => {
                tracing::info!(action = %action, seq = entry.seq, actor = %entry.record.actor, "audit entry recorded");
                Ok(())
            }
            Err(err) => {
                tracing::error!(action = %action, error.message = %err, "admin action not recorded in the audit log");
                Err(AuditUnavailable(Box::new(err)))
            }
        }
    }

    /// [`verify_anchored`] over the stored chain.
    pub async fn verify_anchored(
        &self,
        kept: Option<&str>,
    ) -> Result<Result<Verified, ChainBreak>, AuditUnavailable> {
        let chain = self
            .store
            .audit_chain()
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))?;
        Ok(verify_anchored(&chain, kept))
    }

    pub async fn verify(&self) -> Result<Result<(usize, String), ChainBreak>, AuditUnavailable> {
        let chain = self
            .store
            .audit_chain()
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))?;
        Ok(verify_chain(&chain))
    }
}

#[async_trait::async_trait]
impl AuditPort for AuditLog {
    async fn record(&self, record: AuditRecord) -> Result<(), AuditUnavailable> {
        AuditLog::record(self, record).await
    }

    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, AuditUnavailable> {
        self.store
            .audit_entries(query)
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{embedded::DB_FILE, EmbeddedStore};
    use serde_json::json;

    async fn log_with_four_entries() -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(Arc::new(EmbeddedStore::open(dir.path()).unwrap()));
        for (i, action) in [
            "provider.created",
            "provider.updated",
            "provider.activated",
            "token.created",
        ]
        .into_iter()
        .enumerate()
        {
            log.record(AuditRecord {
                actor: "admin".into(),
                action: action.into(),
                target: Some(format!("prv_{i}")),
                before: (i > 0).then(|| json!({ "apiKeyHint": "****1111", "priority": i })),
                after: Some(json!({ "apiKeyHint": "****2222", "priority": i + 1 })),
            })
            .await
            .unwrap();
        }
        (dir, log)
    }

    fn tamper(dir: &tempfile::TempDir, sql: &str) {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
    }

    #[tokio::test]
    async fn an_untouched_log_verifies_and_reports_its_head() {
        let (_dir, log) = log_with_four_entries().await;
        let (count, head) = log.verify().await.unwrap().unwrap();
        assert_eq!(count, 4);
        let newest = log
            .entries(&AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(newest[0].hash, head);
        assert_eq!(newest[0].seq, 4);
    }

    #[tokio::test]
    async fn a_removed_entry_is_detected() {
        let (dir, log) = log_with_four_entries().await;
        tamper(&dir, "DELETE FROM audit_log WHERE seq = 2");
        assert_eq!(
            log.verify().await.unwrap(),
            Err(ChainBreak::Removed {
                previous: 1,
                missing: 2,
                found: 3
            })
        );
    }

    #[tokio::test]
    async fn a_removed_entry_renumbered_to_hide_the_gap_is_detected() {
        let (dir, log) = log_with_four_entries().await;
        tamper(&dir, "DELETE FROM audit_log WHERE seq = 2");
        tamper(&dir, "UPDATE audit_log SET seq = 2 WHERE seq = 3");
        tamper(&dir, "UPDATE audit_log SET seq = 3 WHERE seq = 4");
        assert_eq!(
            log.verify().await.unwrap(),
            Err(ChainBreak::Unlinked { seq: 2 })
        );
    }

    #[tokio::test]
    async fn an_edited_entry_is_detected() {
        for sql in [
            "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3",
            "UPDATE audit_log SET after = '{\"apiKeyHint\":\"****9999\",\"priority\":3}' WHERE seq = 3",
            "UPDATE audit_log SET at = '2020-01-01T00:00:00.000000000Z' WHERE seq = 3",
        ] {
            let (dir, log) = log_with_four_entries().await;
            tamper(&dir, sql);
            assert_eq!(log.verify().await.unwrap(), Err(ChainBreak::Edited { seq: 3 }), "{sql}");
        }
    }

    #[tokio::test]
    async fn a_kept_head_anchors_the_chain_and_a_rewritten_log_is_caught() {
        let (dir, log) = log_with_four_entries().await;
        let kept = log.verify().await.unwrap().unwrap().1;
        log.record(AuditRecord {
            actor: "admin".into(),
            action: "token.revoked".into(),
            target: None,
            before: None,
            after: None,
        })
        .await
        .unwrap();
        let verified = log
            .verify_anchored(Some(&kept.to_uppercase()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((verified.count, verified.anchored_at), (5, Some(4)));
        assert!(
            verified.to_string().contains("the kept head is entry 4"),
            "{verified}"
        );

        // Someone rewrites entry 2 and re-hashes everything after it: the chain is consistent
        // again, but no longer holds the kept head.
        tamper(
            &dir,
            "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
        );
        let chain = log.store.audit_chain().await.unwrap();
        let mut prev = GENESIS.to_owned();
        for c in &chain {
            let hash = entry_hash(
                &prev,
                c.entry.seq,
                &c.at_text,
                &c.entry.record,
                c.before_text.as_deref(),
                c.after_text.as_deref(),
            );
            tamper(
                &dir,
                &format!(
                    "UPDATE audit_log SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
                    c.entry.seq
                ),
            );
            prev = hash;
        }
        assert!(
            log.verify().await.unwrap().is_ok(),
            "rewritten consistently"
        );
        assert_eq!(
            log.verify_anchored(Some(&kept)).await.unwrap(),
            Err(ChainBreak::KeptHeadMissing { kept: kept.clone() })
        );
    }

    #[tokio::test]
    async fn entries_filter_and_page_newest_first() {
        let (_dir, log) = log_with_four_entries().await;
        let page = log
            .entries(&AuditQuery {
                limit: 2,
                before_seq: Some(4),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2]);
        let created = log
            .entries(&AuditQuery {
                action: Some("token.created".into()),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].record.target.as_deref(), Some("prv_3"));
    }
}
