//! Tokens and the audit log in MongoDB, shared by instances: a token made through one is found
//! through another, and concurrent appends from several instances leave one gap-free chain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{test_uri, unique_database};
use super::*;
use crate::access::{create_token, digest, revoke_token, AccessError, AccessStore};
use crate::audit::{verify_chain, AuditStore};
use smsgate_actors::domain::{AuditQuery, AuditRecord, Role};

#[tokio::test]
async fn a_token_made_through_one_instance_is_found_and_revoked_through_another() {
    let Some(uri) = test_uri("shared tokens") else {
        return;
    };
    let db = unique_database();
    let a = MongoStore::connect(&uri, &db).await.unwrap();
    let b = MongoStore::connect(&uri, &db).await.unwrap();
    let (token, stored) = create_token(&a, "billing", Role::Service).await.unwrap();
    let found = b.token_by_digest(&digest(token.expose())).await.unwrap();
    assert_eq!(found.as_ref(), Some(&stored));
    assert!(matches!(
        create_token(&b, "billing", Role::Viewer).await,
        Err(AccessError::Store(StoreError::Conflict(_)))
    ));
    assert_eq!(AccessStore::tokens(&b).await.unwrap(), [stored]);
    let revoked = revoke_token(&b, "billing").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let found = a.token_by_digest(&digest(token.expose())).await.unwrap();
    assert!(found.unwrap().revoked_at.is_some());
    assert!(matches!(
        revoke_token(&a, "billing").await,
        Err(AccessError::AlreadyRevoked(_))
    ));
    let raw: Vec<Document> = futures::TryStreamExt::try_collect(
        a.database()
            .collection::<Document>(TOKENS)
            .find(doc! {})
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(
        !format!("{raw:?}").contains(token.expose()),
        "the token itself is never stored"
    );
    a.database().drop().await.unwrap();
}

#[tokio::test]
async fn concurrent_appends_from_several_instances_keep_one_gap_free_chain() {
    let Some(uri) = test_uri("shared audit chain") else {
        return;
    };
    let db = unique_database();
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(MongoStore::connect(&uri, &db).await.unwrap());
    }
    let appends = instances.iter().enumerate().flat_map(|(i, store)| {
        (0..8).map(move |n| async move {
            let record = AuditRecord {
                actor: format!("instance-{i}"),
                action: "provider.updated".into(),
                target: Some(format!("p{n}")),
                before: None,
                after: Some(serde_json::json!({ "n": n })),
            };
            store
                .append_audit(record, chrono::Utc::now())
                .await
                .unwrap()
        })
    });
    let written = futures::future::join_all(appends).await;
    let mut seqs: Vec<i64> = written.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>(), "unique, gap-free");

    let chain = instances[0].audit_chain().await.unwrap();
    let (count, head) = verify_chain(&chain).unwrap();
    assert_eq!(count, 24);
    assert_eq!(head, chain.last().unwrap().entry.hash);
    let query = AuditQuery {
        actor: Some("instance-1".into()),
        limit: 100,
        ..AuditQuery::default()
    };
    let mine = instances[2].audit_entries(&query).await.unwrap();
    assert_eq!(mine.len(), 8);
    assert!(mine.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    instances[0].database().drop().await.unwrap();
}
