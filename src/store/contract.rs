//! The `Store` contract as checks any backend runs: each takes a fresh, empty store and panics
//! with a description when the backend behaves differently from what the engine relies on.
//!
//! Test-only (`#[cfg(test)]`): every backend lives in this crate and calls these from its own
//! tests, one `#[tokio::test]` per check on a store of its own. The fixtures are here; the
//! checks are in `contract/`, by concern.

// Checks, not production code: a step that fails should fail the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod leases;
mod listing;
mod messages;
mod providers;
mod statistics;

pub use alerts::alert_history_is_newest_first_filtered_and_paged;
pub use leases::{
    a_change_from_a_status_the_message_left_is_refused_and_its_batch_kept_nothing,
    a_lone_instance_holds_what_it_wrote, a_second_receipt_never_regresses_a_final_state,
};
pub use listing::{
    every_filter_narrows_the_listing, listing_is_newest_first_and_pages_without_gaps_or_repeats,
};
pub use messages::{
    a_batch_that_fails_keeps_none_of_its_writes,
    idempotency_key_duplicates_are_reported_and_the_rest_of_the_batch_applies,
    insert_then_read_back_with_events, receipt_lookup_by_provider_and_response_token,
    statistics_commit_with_their_batch_or_not_at_all,
    unfinished_messages_are_the_non_final_ones_oldest_first, updates_append_events_in_order,
};
pub use providers::{
    exactly_one_default_after_set_default, provider_slug_is_unique,
    providers_round_trip_update_and_delete,
};
pub use statistics::{
    statistics_add_up_across_commits, statistics_rebuilt_from_the_logs_equal_the_incremental_ones,
};

/// Calls `$apply!(check, check, ...)` with every check of the contract, so each backend's tests
/// run all of them and a new check cannot be forgotten by one backend.
macro_rules! every_check {
    ($apply:ident) => {
        $apply!(
            insert_then_read_back_with_events,
            idempotency_key_duplicates_are_reported_and_the_rest_of_the_batch_applies,
            updates_append_events_in_order,
            a_batch_that_fails_keeps_none_of_its_writes,
            listing_is_newest_first_and_pages_without_gaps_or_repeats,
            every_filter_narrows_the_listing,
            unfinished_messages_are_the_non_final_ones_oldest_first,
            receipt_lookup_by_provider_and_response_token,
            providers_round_trip_update_and_delete,
            provider_slug_is_unique,
            exactly_one_default_after_set_default,
            statistics_add_up_across_commits,
            statistics_commit_with_their_batch_or_not_at_all,
            alert_history_is_newest_first_filtered_and_paged,
            statistics_rebuilt_from_the_logs_equal_the_incremental_ones,
            a_change_from_a_status_the_message_left_is_refused_and_its_batch_kept_nothing,
            a_second_receipt_never_regresses_a_final_state,
            a_lone_instance_holds_what_it_wrote,
        );
    };
}
pub(crate) use every_check;

use chrono::{DateTime, Duration, TimeZone, Utc};
use smsgate_actors::domain::{
    event::ErrorKind, Encoding, Message, MessageError, MessageEvent, MessageFilter, MessageId,
    MessageStatus, MessageType, Page, PageRequest, ProviderConfig, ProviderId, ProviderKind, E164,
};
use smsgate_actors::ports::{MessageWrite, Store, WriteOutcome};

/// A time with milliseconds, so a backend that drops them is caught by equality checks. Not
/// finer: BSON dates keep milliseconds, and that is all the engine's times need.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap() + Duration::milliseconds(123)
}

/// A freshly accepted message: QUEUED, with its first event.
pub fn queued(to: &str, created_at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::generate(),
        to: E164::from_stored(to.to_owned()),
        body: "Codul tău este 123456".into(),
        message_type: MessageType::Transactional,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status: MessageStatus::Queued,
        provider: None,
        provider_message_id: None,
        encoding: Encoding::Ucs2,
        segments: 1,
        cost: None,
        attempts: 0,
        error: None,
        created_at,
        updated_at: created_at,
        sent_at: None,
        delivered_at: None,
        expires_at: created_at + Duration::hours(24),
        events: vec![MessageEvent {
            status: MessageStatus::Queued,
            at: created_at,
            provider: None,
            error: None,
        }],
    }
}

/// Moves `m` to `next` as the engine does and returns the write that stores the step.
pub fn step(m: &mut Message, next: MessageStatus, error: Option<MessageError>) -> MessageWrite {
    let at = m.updated_at + Duration::milliseconds(250);
    let event = m.transition(next, at, error).unwrap().clone();
    MessageWrite::Update {
        message: m.clone().into(),
        event,
    }
}

/// A message already in `status` (events and times to match), for inserting directly.
pub(crate) fn in_status(to: &str, created_at: DateTime<Utc>, status: MessageStatus) -> Message {
    use MessageStatus::*;
    let mut m = queued(to, created_at);
    m.provider = Some("smso".into());
    let path: &[MessageStatus] = match status {
        Queued => &[],
        Sending => &[Sending],
        Sent => &[Sending, Sent],
        Delivered => &[Sending, Sent, Delivered],
        Undelivered => &[Sending, Sent, Undelivered],
        Retrying => &[Sending, Retrying],
        Failed => &[Failed],
        Expired => &[Expired],
    };
    for &next in path {
        let error = matches!(next, Retrying | Failed | Undelivered).then(|| MessageError {
            kind: ErrorKind::Timeout,
            message: "the provider did not answer".into(),
        });
        step(&mut m, next, error);
    }
    m
}

pub(crate) fn provider(slug: &str) -> ProviderConfig {
    ProviderConfig {
        id: ProviderId::generate(),
        name: format!("{slug} account"),
        slug: slug.into(),
        kind: ProviderKind::Mock,
        is_active: true,
        is_default: false,
        priority: 10,
        features: vec!["sms".into(), "dlr".into()],
        sender_id: None,
        api_base_url: None,
        credentials: None,
        api_key_hint: None,
        settings: serde_json::json!({}),
        created_at: base_time(),
        updated_at: base_time(),
        webhook_secret: Some(format!("secret-of-{slug}")),
    }
}

pub(crate) async fn commit(store: &dyn Store, writes: Vec<MessageWrite>) -> Vec<WriteOutcome> {
    store.commit_with_statistics(&writes, &[]).await.unwrap()
}

pub(crate) async fn insert_all(store: &dyn Store, messages: &[Message]) {
    let writes = messages
        .iter()
        .cloned()
        .map(|m| MessageWrite::Insert(m.into()))
        .collect();
    let outcomes = commit(store, writes).await;
    assert!(outcomes.iter().all(|o| *o == WriteOutcome::Applied));
}

pub(crate) async fn all_pages(
    store: &dyn Store,
    filter: &MessageFilter,
    first: usize,
) -> Vec<Page<Message>> {
    let mut pages: Vec<Page<Message>> = Vec::new();
    loop {
        let after = pages.last().map(|p| p.items.last().unwrap().id.clone());
        let page = store
            .messages(filter, &PageRequest { first, after })
            .await
            .unwrap();
        let more = page.has_next_page;
        assert!(pages.len() < 1000, "paging does not end");
        pages.push(page);
        if !more {
            return pages;
        }
    }
}

pub(crate) fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id.clone()).collect()
}

/// The engine tests' in-memory store keeps the statistics as the real backends do, so engine
/// tests over it (actors/tests/engine/statistics.rs) show what a real store would hold.
#[cfg(test)]
mod memory_store {
    use smsgate_actors::test_support::MemoryStore;

    macro_rules! on_memory {
        ($($check:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $check() {
                super::$check(MemoryStore::new().as_ref()).await;
            }
        )*};
    }

    on_memory!(
        statistics_add_up_across_commits,
        statistics_commit_with_their_batch_or_not_at_all,
        statistics_rebuilt_from_the_logs_equal_the_incremental_ones,
    );
}
