//! Configured providers in MongoDB: unique slugs, and at most one default at any time, for
//! every instance on the database (a unique partial index on the default backs the writes).

use super::documents::ProviderDoc;
use super::{is_duplicate_key, mongo_error, PROVIDERS};
use futures::TryStreamExt;
use mongodb::bson::doc;
use mongodb::{ClientSession, Collection, Database};
use smsgate_actors::domain::{ProviderConfig, ProviderId};
use smsgate_actors::ports::StoreError;

fn collection(db: &Database) -> Collection<ProviderDoc> {
    db.collection(PROVIDERS)
}

/// A unique index refused the write: the slug is taken (the default index cannot refuse, since
/// other defaults are cleared first in the same transaction).
fn conflict_or(p: &ProviderConfig) -> impl Fn(mongodb::error::Error) -> StoreError + '_ {
    move |err| {
        if is_duplicate_key(&err) {
            StoreError::Conflict(format!("provider slug {:?}", p.slug))
        } else {
            mongo_error(err)
        }
    }
}

/// Default first, then by priority (lower first), then in creation order: the order failover
/// tries them in, as the embedded store gives it.
pub(super) async fn all(db: &Database) -> Result<Vec<ProviderConfig>, StoreError> {
    let docs: Vec<ProviderDoc> = collection(db)
        .find(doc! {})
        .sort(doc! { "is_default": -1, "priority": 1, "_id": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    docs.into_iter().map(ProviderDoc::into_provider).collect()
}

pub(super) async fn by_id(
    db: &Database,
    id: &ProviderId,
) -> Result<Option<ProviderConfig>, StoreError> {
    collection(db)
        .find_one(doc! { "_id": id.as_str() })
        .await
        .map_err(mongo_error)?
        .map(ProviderDoc::into_provider)
        .transpose()
}

/// Inserting a provider marked default makes it the only default.
pub(super) async fn insert(
    db: &Database,
    session: &mut ClientSession,
    p: &ProviderConfig,
    doc: &ProviderDoc,
) -> Result<(), StoreError> {
    if p.is_default {
        clear_other_defaults(db, session, &p.id).await?;
    }
    collection(db)
        .insert_one(doc)
        .session(&mut *session)
        .await
        .map_err(conflict_or(p))?;
    Ok(())
}

/// Everything but the id and the creation time. Updating a provider to be the default makes it
/// the only default.
pub(super) async fn update(
    db: &Database,
    session: &mut ClientSession,
    p: &ProviderConfig,
    doc: &ProviderDoc,
) -> Result<(), StoreError> {
    if p.is_default {
        clear_other_defaults(db, session, &p.id).await?;
    }
    let mut fields =
        mongodb::bson::to_document(doc).map_err(|err| StoreError::Unavailable(Box::new(err)))?;
    fields.remove("_id");
    fields.remove("created_at");
    let result = collection(db)
        .update_one(doc! { "_id": p.id.as_str() }, doc! { "$set": fields })
        .session(&mut *session)
        .await
        .map_err(conflict_or(p))?;
    if result.matched_count == 0 {
        return Err(StoreError::NotFound(format!("provider {}", p.id)));
    }
    Ok(())
}

pub(super) async fn delete(db: &Database, id: &ProviderId) -> Result<bool, StoreError> {
    let result = collection(db)
        .delete_one(doc! { "_id": id.as_str() })
        .await
        .map_err(mongo_error)?;
    Ok(result.deleted_count > 0)
}

pub(super) async fn set_default(
    db: &Database,
    session: &mut ClientSession,
    id: &ProviderId,
) -> Result<(), StoreError> {
    // Cleared first: the unique index on the default is checked per statement, not at commit.
    clear_other_defaults(db, session, id).await?;
    let result = collection(db)
        .update_one(
            doc! { "_id": id.as_str() },
            doc! { "$set": { "is_default": true } },
        )
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    if result.matched_count == 0 {
        // The transaction is aborted: the cleared defaults come back.
        return Err(StoreError::NotFound(format!("provider {id}")));
    }
    Ok(())
}

async fn clear_other_defaults(
    db: &Database,
    session: &mut ClientSession,
    id: &ProviderId,
) -> Result<(), StoreError> {
    collection(db)
        .update_many(
            doc! { "is_default": true, "_id": { "$ne": id.as_str() } },
            doc! { "$set": { "is_default": false } },
        )
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    Ok(())
}

/// Gives each provider of a kind with unsigned receipts (SMSO, Vonage) written before webhook
/// secrets existed its secret, once: the filter on a missing secret makes the same step at a
/// second instance starting at the same time change nothing. Logs which providers' webhook
/// URLs changed (never the secrets): the admin rotates to see the new one.
pub(super) async fn give_webhook_secrets(db: &Database) -> Result<(), StoreError> {
    let raw: Collection<mongodb::bson::Document> = db.collection(PROVIDERS);
    let missing: Vec<mongodb::bson::Document> = raw
        .find(doc! { "kind": { "$in": ["SMSO", "VONAGE"] }, "webhook_secret": null })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    for provider in missing {
        let Ok(id) = provider.get_str("_id") else {
            continue;
        };
        let secret = smsgate_actors::domain::new_webhook_secret();
        let result = raw
            .update_one(
                doc! { "_id": id, "webhook_secret": null },
                doc! { "$set": { "webhook_secret": secret } },
            )
            .await
            .map_err(mongo_error)?;
        if result.modified_count == 1 {
            let slug = provider.get_str("slug").unwrap_or_default();
            tracing::warn!(provider = ?slug, "this provider's webhook URL now carries a secret and its old URL answers 404; run rotateWebhookSecret to see the new URL and set it wherever it was configured at the provider");
        }
    }
    Ok(())
}
