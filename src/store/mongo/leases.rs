//! Leases in MongoDB: which instance dispatches each unfinished message. A message's document
//! names its holder (`lease_owner`, written with the insert); the holder's lease on all of them
//! is its heartbeat in `sms_instances` (`alive_until`), renewed with one write per period. One
//! heartbeat rather than an `update_many` over the holder's messages: that bulk write competed
//! with every status change of the same documents, and SecantusDB retried it without end under
//! load (the two-instance test found this).
//!
//! A claim finds candidates, then takes each by id with a `find_one_and_update` whose filter
//! requires the holder seen dead (or none) to still hold it, its heartbeat having run out, so two instances can never both claim a message (the first names itself
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
use smsgate_actors::domain::{Message, MessageId};
use smsgate_actors::ports::{LeaseHolder, StoreError};
use std::future::IntoFuture;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The field a claim writes with the new holder: which call took the message.
const CLAIM_TOKEN: &str = "claim_token";

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
async fn dead(db: &Database, holder: &LeaseHolder) -> Result<Vec<String>, mongodb::error::Error> {
    let now = date(&chrono::Utc::now());
    let docs: Vec<Document> = db
        .collection::<Document>(INSTANCES)
        .find(doc! {
            "alive_until": { "$lte": now },
            "_id": { "$ne": holder.instance.as_str() },
        })
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs
        .iter()
        .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
        .collect())
}

/// Claims whose answer never came (the call failed or ran past its deadline): the server may
/// have applied one, leaving a message held by this instance that no Router dispatches. Each claim
/// writes a token of its own with the new holder; later sweeps read each lost token back (a read
/// loses nothing when it too fails) and hand over what carries it, once, then forget the token.
/// A token is looked for during `LOST_CLAIM_WATCH` leases: long past any write the server could
/// still apply.
#[derive(Debug, Default)]
pub(super) struct LostClaims {
    tokens: Mutex<Vec<(String, Instant)>>,
}

const LOST_CLAIM_WATCH: u32 = 4;

impl LostClaims {
    pub(super) fn add(&self, token: String) {
        lock(&self.tokens).push((token, Instant::now()));
    }

    fn pending(&self, ttl: Duration) -> Vec<String> {
        let mut tokens = lock(&self.tokens);
        tokens.retain(|(_, at)| at.elapsed() < ttl * LOST_CLAIM_WATCH);
        tokens.iter().map(|(t, _)| t.clone()).collect()
    }

    fn forget(&self, token: &str) {
        lock(&self.tokens).retain(|(t, _)| t != token);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One round trip of a claim, given up after a lease time: a server that never answers a query
/// must not stall the takeover (nor, through it, anything else).
async fn bounded<T>(
    holder: &LeaseHolder,
    call: impl std::future::Future<Output = Result<T, mongodb::error::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(holder.ttl, call).await {
        Ok(answer) => answer.map_err(mongo_error),
        Err(_) => Err(StoreError::Unavailable(
            format!("no answer within {} ms", holder.ttl.as_millis()).into(),
        )),
    }
}

/// Messages claimed by calls whose answer was lost, read back by their tokens.
async fn recover_lost(
    db: &Database,
    holder: &LeaseHolder,
    lost: &LostClaims,
    claimed: &mut Vec<Message>,
) {
    for token in lost.pending(holder.ttl) {
        let filter = doc! {
            CLAIM_TOKEN: token.as_str(),
            "lease_owner": holder.instance.as_str(),
            "status": { "$in": unfinished_statuses() },
        };
        match bounded(holder, collection(db).find_one(filter).into_future()).await {
            Ok(Some(doc)) => match doc.into_message() {
                Ok(message) => {
                    lost.forget(&token);
                    claimed.push(message);
                }
                Err(err) => {
                    lost.forget(&token);
                    tracing::error!(error.message = %err, "a message claimed by a lost call cannot be read");
                }
            },
            // Not applied (yet): looked for again at the next sweep, until the watch ends.
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error.message = %err, "could not look up a claim whose answer was lost");
            }
        }
    }
}

/// Claims up to `max` messages held by instances whose heartbeat ran out, or by nobody. Never
/// fails once something is claimed: what was taken is returned, and a claim whose answer was lost
/// is handed over by a later call (`LostClaims`).
pub(super) async fn claim_expired(
    db: &Database,
    holder: &LeaseHolder,
    lost: &LostClaims,
    max: usize,
) -> Result<Vec<Message>, StoreError> {
    let mut claimed = Vec::new();
    recover_lost(db, holder, lost, &mut claimed).await;
    let candidates = match candidates(db, holder).await {
        Ok(candidates) => candidates,
        Err(err) if claimed.is_empty() => return Err(err),
        Err(err) => {
            tracing::warn!(error.message = %err, "could not look for expired leases");
            return Ok(claimed);
        }
    };
    for (id, owner) in candidates {
        if claimed.len() >= max {
            break;
        }
        // The fence: taken only if still unfinished and still held by the one seen dead (or by
        // nobody). A concurrent claimant that named itself first makes this match nothing.
        let mut filter = doc! { "_id": id, "status": { "$in": unfinished_statuses() } };
        filter.extend(owner);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let update = doc! { "$set": {
            "lease_owner": holder.instance.as_str(),
            CLAIM_TOKEN: token.as_str(),
        } };
        let messages = collection(db);
        let call = messages
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .into_future();
        match bounded(holder, call).await {
            Ok(Some(doc)) => match doc.into_message() {
                Ok(message) => claimed.push(message),
                Err(err) => {
                    tracing::error!(error.message = %err, "a claimed message cannot be read");
                }
            },
            Ok(None) => {}
            Err(err) => {
                lost.add(token);
                tracing::warn!(error.message = %err, "a claim got no answer; it is looked up at the next sweep");
                break;
            }
        }
    }
    Ok(claimed)
}

/// Held by an instance that stopped renewing, or by nobody (written before leases), oldest first,
/// each with the holder it was seen with. Two plain finds, no sort and no `$or`: SecantusDB never
/// answered a `find_one_and_update` with a sort or with that `$or`, and a claim that never
/// answers stalls the whole takeover.
async fn candidates(
    db: &Database,
    holder: &LeaseHolder,
) -> Result<Vec<(mongodb::bson::Bson, Document)>, StoreError> {
    let dead = bounded(holder, dead(db, holder)).await?;
    let held_by_dead = doc! {
        "status": { "$in": unfinished_statuses() },
        "lease_owner": { "$in": dead },
    };
    let unheld = doc! {
        "status": { "$in": unfinished_statuses() },
        "lease_owner": { "$exists": false },
    };
    let mut candidates = Vec::new();
    for filter in [held_by_dead, unheld] {
        let find = async {
            db.collection::<Document>(MESSAGES)
                .find(filter)
                .projection(doc! { "_id": 1, "lease_owner": 1 })
                .await?
                .try_collect::<Vec<Document>>()
                .await
        };
        for d in bounded(holder, find).await? {
            if let Some(id) = d.get("_id").cloned() {
                let owner = match d.get_str("lease_owner") {
                    Ok(owner) => doc! { "lease_owner": owner },
                    Err(_) => doc! { "lease_owner": { "$exists": false } },
                };
                candidates.push((id, owner));
            }
        }
    }
    // Oldest first: ids are generated in time order.
    candidates.sort_by_key(|a| a.0.to_string());
    Ok(candidates)
}

/// What this instance id already holds (a restart under the same id), then every free one.
pub(super) async fn claim_at_start(
    db: &Database,
    holder: &LeaseHolder,
    lost: &LostClaims,
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
    claimed.extend(claim_expired(db, holder, lost, usize::MAX).await?);
    Ok(claimed)
}

/// The message if this instance holds it and it is unfinished (see `Leases::held`).
pub(super) async fn held(
    db: &Database,
    holder: &LeaseHolder,
    id: &MessageId,
) -> Result<Option<Message>, StoreError> {
    let found = bounded(
        holder,
        collection(db)
            .find_one(doc! { "_id": id.as_str(), "lease_owner": holder.instance.as_str() })
            .into_future(),
    )
    .await?;
    let message = found.map(MessageDoc::into_message).transpose()?;
    Ok(message.filter(|m| !m.status.is_final()))
}
