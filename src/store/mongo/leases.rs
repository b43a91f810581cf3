//! Leases in MongoDB: which instance dispatches each unfinished message. A message's document
//! names its holder (`lease_owner`, written with the insert); the holder's lease on all of them
//! is its heartbeat in `sms_instances` (`alive_until`), renewed with one write per period. One
//! heartbeat rather than an `update_many` over the holder's messages: that bulk write competed
//! with every status change of the same documents, and SecantusDB retried it without end under
//! load (the two-instance test found this).
//!
//! A claim is one `find_one_and_update` whose filter requires the holder to be an instance whose
//! heartbeat ran out, so two instances can never both claim a message (the first names itself
//! the holder, which the second's filter no longer matches). An instance writes its heartbeat
//! before it inserts or claims anything; a holder without one is never claimed. The fence on status changes is in `messages`.
//!
//! Heartbeat times are the writer's clock: instances must keep their clocks in step (NTP) to
//! well under the lease time.

use super::documents::{date, MessageDoc};
use super::indexes::unfinished_statuses;
use super::{mongo_error, INSTANCES, MESSAGES};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use smsgate_actors::domain::Message;
use smsgate_actors::ports::{LeaseHolder, StoreError};

fn collection(db: &Database) -> Collection<MessageDoc> {
    db.collection(MESSAGES)
}

/// Extends this instance's heartbeat, and with it its lease on every message it holds.
pub(super) async fn renew(db: &Database, holder: &LeaseHolder) -> Result<u64, StoreError> {
    let until = date(&holder.until_from_now());
    db.collection::<Document>(INSTANCES)
        .update_one(
            doc! { "_id": holder.instance.as_str() },
            doc! { "$set": { "alive_until": until } },
        )
        .upsert(true)
        .await
        .map_err(mongo_error)?;
    Ok(1)
}

/// Ends the heartbeat now: this instance's messages are free to claim.
pub(super) async fn release(db: &Database, holder: &LeaseHolder) -> Result<(), StoreError> {
    let now = date(&chrono::Utc::now());
    db.collection::<Document>(INSTANCES)
        .update_one(
            doc! { "_id": holder.instance.as_str() },
            doc! { "$set": { "alive_until": now } },
        )
        .await
        .map_err(mongo_error)?;
    Ok(())
}

/// Other instances whose heartbeat ran out. Not "every instance that is not known live": an
/// instance that just started may not be in another's list of live ones yet.
async fn dead(db: &Database, holder: &LeaseHolder) -> Result<Vec<String>, StoreError> {
    let now = date(&chrono::Utc::now());
    let docs: Vec<Document> = db
        .collection::<Document>(INSTANCES)
        .find(doc! {
            "alive_until": { "$lte": now },
            "_id": { "$ne": holder.instance.as_str() },
        })
        .projection(doc! { "_id": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    Ok(docs
        .iter()
        .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
        .collect())
}

pub(super) async fn claim_expired(
    db: &Database,
    holder: &LeaseHolder,
    max: usize,
) -> Result<Vec<Message>, StoreError> {
    let dead = dead(db, holder).await?;
    // Held by an instance that stopped renewing, or by nobody (written before leases).
    let filter = doc! {
        "status": { "$in": unfinished_statuses() },
        "$or": [
            { "lease_owner": { "$in": dead } },
            { "lease_owner": { "$exists": false } },
        ],
    };
    let mut claimed = Vec::new();
    while claimed.len() < max {
        let found = collection(db)
            .find_one_and_update(
                filter.clone(),
                doc! { "$set": { "lease_owner": holder.instance.as_str() } },
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
    let mine: Vec<MessageDoc> = collection(db)
        .find(doc! {
            "lease_owner": holder.instance.as_str(),
            "status": { "$in": unfinished_statuses() },
        })
        .sort(doc! { "_id": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    let mut claimed = mine
        .into_iter()
        .map(MessageDoc::into_message)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.extend(claim_expired(db, holder, usize::MAX).await?);
    Ok(claimed)
}
