//! The indexes of the MongoDB store, created at start-up. `createIndexes` with an index that
//! already exists in the same shape does nothing, so every start may ask for all of them.
//!
//! Each listing filter the API offers has its own index with `_id` descending behind it, so a
//! filtered page is an index walk in the listing's order (ids are UUIDv7: newest first by id).

use super::{mongo_error, AUDIT, MESSAGES, PROVIDERS, RATE_LIMITS, STATISTICS, TOKENS};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::ports::StoreError;

/// The statuses `unfinished_messages` looks for: every one that is not final.
pub(super) fn unfinished_statuses() -> Vec<&'static str> {
    MessageStatus::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .map(MessageStatus::as_str)
        .collect()
}

fn index(name: &str, keys: Document) -> IndexModel {
    named(name, keys, IndexOptions::default())
}

fn named(name: &str, keys: Document, mut options: IndexOptions) -> IndexModel {
    options.name = Some(name.to_owned());
    IndexModel::builder().keys(keys).options(options).build()
}

/// Every index, by collection. Names are fixed so operators can find them, and so a changed
/// definition fails loudly (same name, other shape) instead of adding a second index.
fn all() -> Vec<(&'static str, Vec<IndexModel>)> {
    vec![
        (
            MESSAGES,
            vec![
                index("status_id", doc! { "status": 1, "_id": -1 }),
                index("provider_id", doc! { "provider": 1, "_id": -1 }),
                index("message_type_id", doc! { "message_type": 1, "_id": -1 }),
                index("phone_number_id", doc! { "phone_number": 1, "_id": -1 }),
                index("created_at_id", doc! { "created_at": -1, "_id": -1 }),
                index("error_kind_id", doc! { "error.kind": 1, "_id": -1 }),
                // A service token's listing: only the messages it sent.
                index("sent_by_id", doc! { "sent_by": 1, "_id": -1 }),
                // A statistics rebuild looks for the messages with an event on its day.
                index("events_at", doc! { "events.at": 1 }),
                // Delivery receipts name the provider and its message id only.
                index(
                    "provider_response_token",
                    doc! { "provider": 1, "response_token": 1, "_id": -1 },
                ),
                // The restart sweep: only unfinished messages are in it, so it stays small
                // however many messages are kept.
                named(
                    "unfinished",
                    doc! { "status": 1, "_id": 1 },
                    IndexOptions::builder()
                        .partial_filter_expression(
                            doc! { "status": { "$in": unfinished_statuses() } },
                        )
                        .build(),
                ),
                // Claims look at unfinished messages only, by holder, oldest first.
                named(
                    "unfinished_lease_owner",
                    doc! { "lease_owner": 1, "_id": 1 },
                    IndexOptions::builder()
                        .partial_filter_expression(
                            doc! { "status": { "$in": unfinished_statuses() } },
                        )
                        .build(),
                ),
                // Only messages with a key are in it: most have none.
                named(
                    "idempotency_key_unique",
                    doc! { "idempotency_key": 1 },
                    IndexOptions::builder()
                        .unique(true)
                        .partial_filter_expression(
                            doc! { "idempotency_key": { "$type": "string" } },
                        )
                        .build(),
                ),
            ],
        ),
        (
            PROVIDERS,
            vec![
                named(
                    "slug_unique",
                    doc! { "slug": 1 },
                    IndexOptions::builder().unique(true).build(),
                ),
                // At most one default, whichever instance sets it.
                named(
                    "default_unique",
                    doc! { "is_default": 1 },
                    IndexOptions::builder()
                        .unique(true)
                        .partial_filter_expression(doc! { "is_default": true })
                        .build(),
                ),
            ],
        ),
        (
            TOKENS,
            vec![
                named(
                    "name_unique",
                    doc! { "name": 1 },
                    IndexOptions::builder().unique(true).build(),
                ),
                named(
                    "digest_unique",
                    doc! { "digest": 1 },
                    IndexOptions::builder().unique(true).build(),
                ),
            ],
        ),
        (
            AUDIT,
            vec![
                index("action_seq", doc! { "action": 1, "_id": -1 }),
                index("actor_seq", doc! { "actor": 1, "_id": -1 }),
                index("target_seq", doc! { "target": 1, "_id": -1 }),
            ],
        ),
        (
            STATISTICS,
            vec![named(
                "day_hour_provider_message_type_unique",
                doc! { "day": 1, "hour": 1, "provider": 1, "message_type": 1 },
                IndexOptions::builder().unique(true).build(),
            )],
        ),
        (
            RATE_LIMITS,
            // A counter goes once its window is over (the server sweeps about once a minute).
            vec![named(
                "expires_at_ttl",
                doc! { "expires_at": 1 },
                IndexOptions::builder()
                    .expire_after(std::time::Duration::ZERO)
                    .build(),
            )],
        ),
    ]
}

/// The per-day statistics index of before hours were kept: it would refuse a second hour of
/// the same day, so it goes, and the documents it covered become hour 0 of their day.
const OLD_DAILY_INDEX: &str = "day_provider_message_type_unique";

async fn upgrade_daily_statistics(db: &Database) -> Result<(), StoreError> {
    let stats = db.collection::<Document>(STATISTICS);
    let names = stats.list_index_names().await.unwrap_or_default();
    if names.iter().any(|n| n == OLD_DAILY_INDEX) {
        stats
            .drop_index(OLD_DAILY_INDEX)
            .await
            .map_err(mongo_error)?;
        tracing::info!("statistics are kept per hour from now on; earlier days count as hour 0");
    }
    stats
        .update_many(
            doc! { "hour": { "$exists": false } },
            doc! { "$set": { "hour": 0_i64 } },
        )
        .await
        .map_err(mongo_error)?;
    Ok(())
}

pub(super) async fn create(db: &Database) -> Result<(), StoreError> {
    upgrade_daily_statistics(db).await?;
    for (collection, models) in all() {
        db.collection::<Document>(collection)
            .create_indexes(models)
            .await
            .map_err(mongo_error)?;
    }
    Ok(())
}

/// The TTL index that ends each message's retention. The server deletes a message (with its
/// events) `days` after `created_at`; `None` keeps messages forever and drops the index. A
/// retention is at least a day, so an idempotency key (kept on its message) holds for 24 h.
pub(super) async fn set_log_retention(db: &Database, days: Option<u32>) -> Result<(), StoreError> {
    let collection = db.collection::<Document>(MESSAGES);
    let Some(days) = days else {
        // Nothing to drop is fine: the index exists only after a retention was set.
        if let Err(err) = collection.drop_index(LOG_TTL).await {
            tracing::debug!(error.message = %err, "no log retention index to drop");
        }
        return Ok(());
    };
    let seconds = i64::from(days) * 86_400;
    // A changed retention: the index exists with another expiry, which createIndexes refuses.
    let changed = db
        .run_command(doc! {
            "collMod": MESSAGES,
            "index": { "name": LOG_TTL, "expireAfterSeconds": seconds },
        })
        .await;
    if changed.is_ok() {
        return Ok(());
    }
    let options = IndexOptions::builder()
        .expire_after(std::time::Duration::from_secs(seconds.unsigned_abs()))
        .build();
    collection
        .create_index(named(LOG_TTL, doc! { "created_at": 1 }, options))
        .await
        .map_err(mongo_error)?;
    Ok(())
}

/// The name of the log retention index.
pub(super) const LOG_TTL: &str = "created_at_ttl";
