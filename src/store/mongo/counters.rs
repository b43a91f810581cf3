//! The counters behind limits shared by every instance (`rate_limit::SharedCounters`): one
//! document per limit, key and window in `rate_limits`, added to with an atomic upsert and
//! dropped by a TTL index once its window is over.

use super::documents::date;
use super::{mongo_error, MongoStore, RATE_LIMITS};
use crate::rate_limit::SharedCounters;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use smsgate_actors::ports::StoreError;

#[async_trait]
impl SharedCounters for MongoStore {
    async fn add(&self, key: &str, amount: i64, expires: DateTime<Utc>) -> Result<i64, StoreError> {
        let found = self
            .db
            .collection::<Document>(RATE_LIMITS)
            .find_one_and_update(
                doc! { "_id": key },
                doc! {
                    "$inc": { "n": amount },
                    "$max": { "expires_at": date(&expires) },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error)?;
        match found.as_ref().and_then(|d| d.get("n")) {
            Some(Bson::Int64(n)) => Ok(*n),
            Some(Bson::Int32(n)) => Ok(i64::from(*n)),
            other => Err(StoreError::Corrupt(format!(
                "the rate-limit counter {key:?} holds {other:?}"
            ))),
        }
    }
}
