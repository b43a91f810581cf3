//! Per day, per provider, per message type counters in MongoDB, added to with `$inc` upserts:
//! the server adds, so concurrent instances never lose a count.

use super::documents::{day, stats_increments, stats_key, StatsDoc};
use super::{mongo_error, refused_writes, STATISTICS};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::{ClientSession, Database};
use smsgate_actors::domain::{StatsDelta, StatsQuery};
use smsgate_actors::ports::StoreError;

/// All deltas in one `update` command inside the caller's transaction, so a failed call adds
/// nothing and the caller may simply try again without counting twice.
pub(super) async fn add(
    db: &Database,
    session: &mut ClientSession,
    deltas: &[StatsDelta],
) -> Result<(), StoreError> {
    let updates: Vec<Document> = deltas
        .iter()
        .map(|d| {
            doc! {
                "q": stats_key(d),
                "u": { "$inc": stats_increments(d) },
                "upsert": true,
            }
        })
        .collect();
    let reply = db
        .run_command(doc! { "update": STATISTICS, "updates": updates, "ordered": true })
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    refused_writes(&reply)
}

/// Rows with `from <= day <= to`, for one provider when asked, sorted by day, provider, type.
pub(super) async fn query(db: &Database, q: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
    let mut filter = doc! { "day": { "$gte": day(q.from), "$lte": day(q.to) } };
    if let Some(provider) = &q.provider {
        filter.insert("provider", provider.as_str());
    }
    let docs: Vec<StatsDoc> = db
        .collection::<StatsDoc>(STATISTICS)
        .find(filter)
        .sort(doc! { "day": 1, "provider": 1, "message_type": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    docs.into_iter().map(StatsDoc::into_delta).collect()
}
