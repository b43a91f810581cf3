//! Messages in MongoDB: batched writes in one transaction, lookups, the newest-first listing
//! and the restart sweep. A message's events live in its document, oldest first.

use super::documents::{date, last_write, mutable_fields, EventDoc, MessageDoc};
use super::indexes::unfinished_statuses;
use super::{mongo_error, refused_writes, MESSAGES};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::{ClientSession, Collection, Database};
use smsgate_actors::domain::{Message, MessageFilter, MessageId, MessageStatus, Page, PageRequest};
use smsgate_actors::ports::lease::{is_receipt, previous_status};
use smsgate_actors::ports::{LeaseHolder, MessageWrite, StoreError, WriteOutcome};
use std::collections::HashMap;

/// A batch turned into documents once, before the transaction: a retried transaction reuses it.
pub(super) struct Plan {
    /// Every write, in order: the message it inserts (with its key), or `None` for an update.
    writes: Vec<Option<(MessageId, Option<String>, MessageDoc)>>,
    /// One `update` statement per updated message, in the order each is first updated: the last
    /// snapshot's fields `$set`, and every event of the batch `$push`ed in order.
    updates: Vec<Document>,
    /// The message of each statement, to name the one that is missing or fenced off.
    updated_ids: Vec<MessageId>,
    /// Each statement's fence: the status it must find, and whether it needs the lease.
    fences: Vec<Fence>,
    /// This instance, for the fence.
    instance: String,
}

/// What a message's document must say for its update to apply.
#[derive(Debug, Clone)]
struct Fence {
    /// The stored status the first change of the batch was made from.
    from: Option<MessageStatus>,
    /// A delivery receipt alone may be written without holding the lease.
    needs_lease: bool,
}

impl Fence {
    fn filter(&self, id: &MessageId, instance: &str) -> Document {
        let mut filter = doc! { "_id": id.as_str() };
        if let Some(from) = self.from {
            filter.insert("status", from.as_str());
        }
        if self.needs_lease {
            filter.insert("lease_owner", instance);
        }
        filter
    }

    fn admits(&self, stored: &Document, instance: &str) -> bool {
        let status_fits = self
            .from
            .is_none_or(|from| stored.get_str("status").ok() == Some(from.as_str()));
        let lease_fits = !self.needs_lease || stored.get_str("lease_owner").ok() == Some(instance);
        status_fits && lease_fits
    }
}

impl Plan {
    /// Inserts are leased to `holder`; updates are fenced by it (see `ports::lease`).
    pub fn new(writes: &[MessageWrite], holder: &LeaseHolder) -> Result<Self, StoreError> {
        // Only a message's last snapshot in the batch needs its fields written: a receipt often
        // lands in the same commit as the answer to the send. Every event is still appended.
        let instance = holder.instance.as_str();
        let mut by_message: HashMap<&MessageId, usize> = HashMap::new();
        let mut grouped: Vec<(&Message, Vec<Bson>, Fence)> = Vec::new();
        let mut planned = Vec::with_capacity(writes.len());
        for write in writes {
            match write {
                MessageWrite::Insert(m) => planned.push(Some((
                    m.id.clone(),
                    m.idempotency_key.clone(),
                    MessageDoc::new(m).leased(instance),
                ))),
                MessageWrite::Update { message, event } => {
                    let bson = EventDoc::new(event).to_bson()?;
                    match by_message.get(&message.id) {
                        Some(&at) => {
                            grouped[at].0 = message;
                            grouped[at].1.push(bson);
                            grouped[at].2.needs_lease = true;
                        }
                        None => {
                            let from = previous_status(write);
                            let fence = Fence {
                                from,
                                needs_lease: !from.is_some_and(|f| is_receipt(f, event.status)),
                            };
                            by_message.insert(&message.id, grouped.len());
                            grouped.push((message, vec![bson], fence));
                        }
                    }
                    planned.push(None);
                }
            }
        }
        let updates = grouped
            .iter()
            .map(|(m, events, fence)| {
                let mut set = mutable_fields(m);
                set.insert("last_write", last_write(instance));
                doc! {
                    "q": fence.filter(&m.id, instance),
                    "u": {
                        "$set": set,
                        "$push": { "events": { "$each": events.clone() } },
                    },
                }
            })
            .collect();
        Ok(Self {
            writes: planned,
            updates,
            updated_ids: grouped.iter().map(|(m, _, _)| m.id.clone()).collect(),
            fences: grouped.into_iter().map(|(_, _, f)| f).collect(),
            instance: instance.to_owned(),
        })
    }
}

fn collection(db: &Database) -> Collection<MessageDoc> {
    db.collection(MESSAGES)
}

/// Applies a planned batch inside the session's transaction, one outcome per write, in three
/// round trips however large the batch: the key check, the inserts, the updates. An update of a
/// message that is not stored is a caller bug: it fails the batch (NotFound), nothing is kept.
pub(super) async fn apply(
    db: &Database,
    session: &mut ClientSession,
    plan: &Plan,
) -> Result<Vec<WriteOutcome>, StoreError> {
    // Checked first rather than caught from the unique index: a failed insert aborts the whole
    // transaction. Keys inserted earlier in the same batch are seen through `taken` too.
    let keys: Vec<&str> = plan
        .writes
        .iter()
        .flatten()
        .filter_map(|(_, key, _)| key.as_deref())
        .collect();
    let mut taken = if keys.is_empty() {
        HashMap::new()
    } else {
        keys_taken(db, session, &keys).await?
    };
    let mut outcomes = Vec::with_capacity(plan.writes.len());
    let mut inserts = Vec::new();
    for write in &plan.writes {
        let Some((id, key, doc)) = write else {
            outcomes.push(WriteOutcome::Applied);
            continue;
        };
        if let Some(key) = key {
            if let Some(existing) = taken.get(key.as_str()) {
                outcomes.push(WriteOutcome::DuplicateIdempotencyKey(existing.clone()));
                continue;
            }
            taken.insert(key.clone(), id.clone());
        }
        outcomes.push(WriteOutcome::Applied);
        inserts.push(doc);
    }
    if !inserts.is_empty() {
        collection(db)
            .insert_many(inserts)
            .session(&mut *session)
            .await
            .map_err(mongo_error)?;
    }
    if !plan.updates.is_empty() {
        update_all(db, session, plan).await?;
    }
    Ok(outcomes)
}

/// The stored message of each of these keys that is taken.
async fn keys_taken(
    db: &Database,
    session: &mut ClientSession,
    keys: &[&str],
) -> Result<HashMap<String, MessageId>, StoreError> {
    let mut cursor = db
        .collection::<Document>(MESSAGES)
        .find(doc! { "idempotency_key": { "$in": keys } })
        .projection(doc! { "_id": 1, "idempotency_key": 1 })
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    let mut taken = HashMap::new();
    while let Some(found) = cursor.next(&mut *session).await {
        let found = found.map_err(mongo_error)?;
        let (Ok(id), Ok(key)) = (found.get_str("_id"), found.get_str("idempotency_key")) else {
            return Err(StoreError::Corrupt(format!(
                "an idempotency key entry is not a pair of strings: {found}"
            )));
        };
        taken.insert(key.to_owned(), MessageId::from_stored(id.to_owned()));
    }
    Ok(taken)
}

/// Every update statement in one `update` command: the driver's `update_one` would be one round
/// trip per message, and `bulkWrite` needs MongoDB 8.
async fn update_all(
    db: &Database,
    session: &mut ClientSession,
    plan: &Plan,
) -> Result<(), StoreError> {
    let command = doc! {
        "update": MESSAGES,
        "updates": plan.updates.clone(),
        "ordered": true,
    };
    let reply = db
        .run_command(command)
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    refused_writes(&reply)?;
    let matched = match reply.get("n") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => -1,
    };
    if usize::try_from(matched).ok() == Some(plan.updates.len()) {
        return Ok(());
    }
    // Some message is not stored, or its fence refused the change: tell which (this is the
    // failure path, one more read is fine). The transaction is aborted by the caller.
    let ids: Vec<&str> = plan.updated_ids.iter().map(MessageId::as_str).collect();
    let mut cursor = db
        .collection::<Document>(MESSAGES)
        .find(doc! { "_id": { "$in": &ids } })
        .projection(doc! { "_id": 1, "status": 1, "lease_owner": 1 })
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    let mut stored = HashMap::new();
    while let Some(found) = cursor.next(&mut *session).await {
        let found = found.map_err(mongo_error)?;
        if let Ok(id) = found.get_str("_id") {
            stored.insert(id.to_owned(), found);
        }
    }
    if let Some(missing) = ids.iter().find(|id| !stored.contains_key(**id)) {
        return Err(StoreError::NotFound(format!("message {missing}")));
    }
    let lost: Vec<MessageId> = plan
        .updated_ids
        .iter()
        .zip(&plan.fences)
        .filter(|(id, fence)| {
            stored
                .get(id.as_str())
                .is_some_and(|doc| !fence.admits(doc, &plan.instance))
        })
        .map(|(id, _)| id.clone())
        .collect();
    if lost.is_empty() {
        // Every fence admits it now: another writer moved in between; the caller may retry.
        return Err(StoreError::Unavailable(
            "a fenced update raced with another writer".into(),
        ));
    }
    Err(StoreError::LeaseLost(lost))
}

pub(super) async fn by_id(db: &Database, id: &MessageId) -> Result<Option<Message>, StoreError> {
    let found = collection(db)
        .find_one(doc! { "_id": id.as_str() })
        .await
        .map_err(mongo_error)?;
    found.map(MessageDoc::into_message).transpose()
}

/// The newest message the provider knows by this id: a receipt names the provider's id only.
pub(super) async fn by_provider_id(
    db: &Database,
    provider: &str,
    token: &str,
) -> Result<Option<Message>, StoreError> {
    let found = collection(db)
        .find_one(doc! { "provider": provider, "response_token": token })
        .sort(doc! { "_id": -1 })
        .await
        .map_err(mongo_error)?;
    found.map(MessageDoc::into_message).transpose()
}

pub(super) async fn by_idempotency_key(
    db: &Database,
    key: &str,
) -> Result<Option<Message>, StoreError> {
    let found = collection(db)
        .find_one(doc! { "idempotency_key": key })
        .await
        .map_err(mongo_error)?;
    found.map(MessageDoc::into_message).transpose()
}

/// Newest first by id: ids are UUIDv7, so id order is creation order, and an id is a cursor
/// that stays put while new messages arrive.
pub(super) async fn list(
    db: &Database,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<Message>, StoreError> {
    let mut query = Document::new();
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    if let Some(provider) = &filter.provider {
        query.insert("provider", provider.as_str());
    }
    if let Some(message_type) = filter.message_type {
        query.insert("message_type", message_type.as_str());
    }
    if let Some(to) = &filter.to {
        query.insert("phone_number", to.as_str());
    }
    if let Some(kind) = filter.error_kind {
        query.insert("error.kind", kind.as_str());
    }
    if let Some(sent_by) = &filter.sent_by {
        query.insert("sent_by", sent_by.as_str());
    }
    let mut created = Document::new();
    if let Some(from) = &filter.created_from {
        created.insert("$gte", date(from));
    }
    if let Some(to) = &filter.created_to {
        created.insert("$lt", date(to));
    }
    if !created.is_empty() {
        query.insert("created_at", created);
    }
    if let Some(after) = &page.after {
        query.insert("_id", doc! { "$lt": after.as_str() });
    }
    // One more than asked tells whether another page follows.
    let limit = i64::try_from(page.first.saturating_add(1)).unwrap_or(i64::MAX);
    let docs: Vec<MessageDoc> = collection(db)
        .find(query)
        .sort(doc! { "_id": -1 })
        .limit(limit)
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    let has_next_page = docs.len() > page.first;
    let items = docs
        .into_iter()
        .take(page.first)
        .map(MessageDoc::into_message)
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        has_next_page,
    })
}

/// Oldest first: a restart picks messages up in the order they were accepted.
pub(super) async fn unfinished(db: &Database) -> Result<Vec<Message>, StoreError> {
    let docs: Vec<MessageDoc> = collection(db)
        .find(doc! { "status": { "$in": unfinished_statuses() } })
        .sort(doc! { "_id": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    docs.into_iter().map(MessageDoc::into_message).collect()
}
