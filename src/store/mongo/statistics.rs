//! Per hour, per provider, per message type counters in MongoDB, added to with `$inc` upserts:
//! the server adds, so concurrent instances never lose a count.

use super::documents::{date, day, stats_increments, stats_key, MessageDoc, StatsDoc};
use super::{mongo_error, refused_writes, MESSAGES, STATISTICS};
use chrono::NaiveDate;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::{ClientSession, Database};
use smsgate_actors::domain::stats::{hour_start, merge_rows, rows_for_day, StatsRebuild};
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

fn filter(q: &StatsQuery) -> Document {
    let mut filter = doc! { "day": { "$gte": day(q.from), "$lte": day(q.to) } };
    if let Some(provider) = &q.provider {
        filter.insert("provider", provider.as_str());
    }
    if let Some(t) = q.message_type {
        filter.insert("message_type", t.as_str());
    }
    filter
}

const ORDER: fn() -> Document = || doc! { "day": 1, "hour": 1, "provider": 1, "message_type": 1 };

/// Rows with `from <= day <= to`, for one provider and type when asked, sorted by day, hour,
/// provider, type.
pub(super) async fn query(db: &Database, q: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
    let docs: Vec<StatsDoc> = db
        .collection::<StatsDoc>(STATISTICS)
        .find(filter(q))
        .sort(ORDER())
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    docs.into_iter().map(StatsDoc::into_delta).collect()
}

/// Inside the caller's transaction: the messages with an event on `day` are read from the
/// transaction's snapshot and the day's documents replaced, so a commit racing it conflicts and
/// one of the two is retried instead of being counted twice or not at all.
pub(super) async fn rebuild(
    db: &Database,
    session: &mut ClientSession,
    on: NaiveDate,
) -> Result<StatsRebuild, StoreError> {
    let start = hour_start(on, 0);
    let end = start + chrono::Duration::days(1);
    let docs: Vec<MessageDoc> = db
        .collection::<MessageDoc>(MESSAGES)
        .find(doc! { "events.at": { "$gte": date(&start), "$lt": date(&end) } })
        .session(&mut *session)
        .await
        .map_err(mongo_error)?
        .stream(&mut *session)
        .try_collect()
        .await
        .map_err(mongo_error)?;
    let logged = docs
        .into_iter()
        .map(MessageDoc::into_message)
        .collect::<Result<Vec<_>, _>>()?;
    let after = rows_for_day(on, &logged);
    let mut q = StatsQuery::days(on, on);
    q.by_type = true;
    let stored: Vec<StatsDoc> = db
        .collection::<StatsDoc>(STATISTICS)
        .find(filter(&q))
        .session(&mut *session)
        .await
        .map_err(mongo_error)?
        .stream(&mut *session)
        .try_collect()
        .await
        .map_err(mongo_error)?;
    let before = merge_rows(
        stored
            .into_iter()
            .map(StatsDoc::into_delta)
            .collect::<Result<Vec<_>, _>>()?,
    );
    db.collection::<Document>(STATISTICS)
        .delete_many(doc! { "day": day(on) })
        .session(&mut *session)
        .await
        .map_err(mongo_error)?;
    if !after.is_empty() {
        add(db, session, &after).await?;
    }
    Ok(StatsRebuild {
        day: on,
        before,
        after,
    })
}
