//! The audit log against the embedded store: recording, the chain, and what tampering verify finds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
        assert_eq!(
            log.verify().await.unwrap(),
            Err(ChainBreak::Edited { seq: 3 }),
            "{sql}"
        );
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
