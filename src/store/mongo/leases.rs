//! Leases in MongoDB: which instance dispatches each unfinished message (`lease_owner`,
//! `lease_until` in its `sms_logs` document). Renewal is one `update_many` per period; a claim is
//! one `find_one_and_update` whose filter requires the lease to have run out, so two instances
//! can never both claim a message. The fence on status changes is in `messages`.
//!
//! Lease times are the writer's clock: instances must keep their clocks in step (NTP) to well
//! under the lease time.

use super::documents::{date, MessageDoc};
use super::indexes::unfinished_statuses;
use super::{mongo_error, MESSAGES};
use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use smsgate_actors::domain::Message;
use smsgate_actors::ports::{LeaseHolder, StoreError};

fn collection(db: &Database) -> Collection<MessageDoc> {
    db.collection(MESSAGES)
}

pub(super) async fn renew(db: &Database, holder: &LeaseHolder) -> Result<u64, StoreError> {
    let until = date(&holder.until_from_now());
    let result = collection(db)
        .update_many(
            doc! {
                "lease_owner": holder.instance.as_str(),
                "status": { "$in": unfinished_statuses() },
            },
            doc! { "$set": { "lease_until": until } },
        )
        .await
        .map_err(mongo_error)?;
    Ok(result.matched_count)
}

/// Unfinished, held by someone else (or nobody), and run out (or never leased).
fn expired_elsewhere(holder: &LeaseHolder) -> Document {
    let now = date(&chrono::Utc::now());
    doc! {
        "status": { "$in": unfinished_statuses() },
        "lease_owner": { "$ne": holder.instance.as_str() },
        "$or": [
            { "lease_until": { "$lte": now } },
            { "lease_until": { "$exists": false } },
        ],
    }
}

pub(super) async fn claim_expired(
    db: &Database,
    holder: &LeaseHolder,
    max: usize,
) -> Result<Vec<Message>, StoreError> {
    let mut claimed = Vec::new();
    while claimed.len() < max {
        let until = date(&holder.until_from_now());
        let found = collection(db)
            .find_one_and_update(
                expired_elsewhere(holder),
                doc! { "$set": { "lease_owner": holder.instance.as_str(), "lease_until": until } },
            )
            .sort(doc! { "_id": 1 })
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error)?;
        match found {
            Some(doc) => claimed.push(doc.into_message()?),
            None => break,
        }
    }
    Ok(claimed)
}

/// What this instance id already holds (a restart under the same id), then every free one.
pub(super) async fn claim_at_start(
    db: &Database,
    holder: &LeaseHolder,
) -> Result<Vec<Message>, StoreError> {
    renew(db, holder).await?;
    let mine: Vec<MessageDoc> = futures::TryStreamExt::try_collect(
        collection(db)
            .find(doc! {
                "lease_owner": holder.instance.as_str(),
                "status": { "$in": unfinished_statuses() },
            })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(mongo_error)?,
    )
    .await
    .map_err(mongo_error)?;
    let mut claimed = mine
        .into_iter()
        .map(MessageDoc::into_message)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.extend(claim_expired(db, holder, usize::MAX).await?);
    Ok(claimed)
}
