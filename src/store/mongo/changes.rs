//! What other instances changed, as it happens: change streams on `sms_providers` and `sms_logs`
//! (MongoDB offers them on replica sets, SecantusDB too), with polling of the providers where the
//! server refuses a change stream.
//!
//! - Providers: every insert, update or delete names the provider; the follower reloads it (an
//!   unchanged configuration is not restarted). After a lost stream, every provider is reloaded.
//! - Messages: an insert, or an update that changed `last_write` (a status change), made by
//!   another instance is read back and handed on, so `messageUpdates` subscribers here see
//!   messages sent through other instances. Lease renewals and claims touch neither field and
//!   are skipped; so are this instance's own writes, which its Logger already published.
//!
//! Nothing is delivered twice on purpose, but a stream that is reopened after an error starts
//! from "now": changes in between are not replayed (subscribers' own snapshot reads cover them).

use super::documents::{writer_of, MessageDoc};
use super::{MongoStore, MESSAGES, PROVIDERS};
use futures::StreamExt;
use mongodb::bson::{Bson, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use smsgate_actors::domain::{Message, ProviderConfig, ProviderId};
use smsgate_actors::ports::{Leases, Store};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// A change another instance made.
#[derive(Debug)]
pub enum Change {
    /// This provider's stored configuration changed (or it was deleted).
    Provider(ProviderId),
    /// A message was stored or changed its status.
    Message(Box<Message>),
}

/// How long to wait before reopening a change stream that failed.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// How often providers are compared with the store when change streams are refused.
const POLL_EVERY: Duration = Duration::from_secs(2);

impl MongoStore {
    /// Follows other instances' changes until the receiver is dropped.
    pub fn follow_changes(&self) -> mpsc::Receiver<Change> {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(providers(self.clone(), tx.clone()));
        tokio::spawn(messages(self.clone(), tx));
        rx
    }
}

async fn providers(store: MongoStore, tx: mpsc::Sender<Change>) {
    let collection = store.db.collection::<Document>(PROVIDERS);
    let mut known: HashMap<ProviderId, ProviderConfig> = HashMap::new();
    loop {
        match collection.watch().await {
            Ok(mut stream) => {
                // Whatever changed while no stream was open is found by comparing.
                if !resync(&store, &tx, &mut known).await {
                    return;
                }
                while let Some(event) = stream.next().await {
                    let Ok(event) = event else { break };
                    let Some(id) = event
                        .document_key
                        .as_ref()
                        .and_then(|key| key.get_str("_id").ok())
                    else {
                        continue;
                    };
                    let id = ProviderId::from_stored(id.to_owned());
                    if tx.send(Change::Provider(id)).await.is_err() {
                        return;
                    }
                }
                tracing::warn!("the providers' change stream ended; reopening");
                tokio::time::sleep(REOPEN_AFTER).await;
            }
            Err(err) => {
                tracing::debug!(error.message = %err, "no change stream on providers; polling");
                if !resync(&store, &tx, &mut known).await {
                    return;
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

/// Names every provider that differs from what was seen last; false when nobody listens.
async fn resync(
    store: &MongoStore,
    tx: &mpsc::Sender<Change>,
    known: &mut HashMap<ProviderId, ProviderConfig>,
) -> bool {
    let Ok(now) = store.providers().await else {
        return true;
    };
    let now: HashMap<ProviderId, ProviderConfig> =
        now.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut changed: Vec<ProviderId> = now
        .iter()
        .filter(|(id, p)| known.get(*id) != Some(*p))
        .map(|(id, _)| id.clone())
        .collect();
    changed.extend(known.keys().filter(|id| !now.contains_key(*id)).cloned());
    *known = now;
    for id in changed {
        if tx.send(Change::Provider(id)).await.is_err() {
            return false;
        }
    }
    true
}

async fn messages(store: MongoStore, tx: mpsc::Sender<Change>) {
    let collection = store.db.collection::<Document>(MESSAGES);
    let me = store.holder().instance.as_str().to_owned();
    loop {
        let mut stream = match collection.watch().await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(error.message = %err, "no change stream on messages: updates from other instances are not relayed");
                return;
            }
        };
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { break };
            let Some(message) = other_instances_change(&store, &me, event).await else {
                continue;
            };
            if tx.send(Change::Message(Box::new(message))).await.is_err() {
                return;
            }
        }
        tracing::warn!("the messages' change stream ended; reopening");
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// The message as stored now, when the event is a status change by another instance.
async fn other_instances_change(
    store: &MongoStore,
    me: &str,
    event: ChangeStreamEvent<Document>,
) -> Option<Message> {
    match event.operation_type {
        OperationType::Insert => {
            let doc: MessageDoc = mongodb::bson::from_document(event.full_document?).ok()?;
            if doc.last_writer() == Some(me) {
                return None;
            }
            doc.into_message().ok()
        }
        OperationType::Update => {
            let fields = event.update_description?.updated_fields;
            let writer = match fields.get("last_write") {
                Some(Bson::String(w)) => writer_of(w),
                _ => return None,
            };
            if writer == me {
                return None;
            }
            let id = event.document_key?.get_str("_id").ok()?.to_owned();
            let id = smsgate_actors::domain::MessageId::from_stored(id);
            store.message(&id).await.ok().flatten()
        }
        _ => None,
    }
}
