//! Contract checks for writing messages and reading them back: batches, idempotency, events,
//! lookups by id and by provider receipt, and the restart sweep.

use super::{base_time, commit, in_status, insert_all, queued, step};
use chrono::Duration;
use smsgate_actors::domain::{
    event::ErrorKind, Encoding, Message, MessageError, MessageFilter, MessageId, MessageStatus,
    MessageType, Money, PageRequest,
};
use smsgate_actors::ports::{MessageWrite, Store, WriteOutcome};

pub async fn insert_then_read_back_with_events(store: &dyn Store) {
    store.ping().await.unwrap();
    let plain = queued("+40755000001", base_time());
    // Every optional field set, several events, an error, money and a non-BMP character.
    let mut full = queued("+40755000002", base_time() + Duration::milliseconds(1));
    full.body = "Programare confirmată 😀".into();
    full.message_type = MessageType::Otp;
    full.sender = Some("ACME".into());
    full.pinned_provider = Some("smso".into());
    full.idempotency_key = Some("order-1".into());
    full.provider = Some("smso".into());
    full.provider_message_id = Some("smso-77".into());
    full.encoding = Encoding::Gsm7;
    full.segments = 3;
    full.cost = Some(Money::from_millicents(10_500));
    full.attempts = 2;
    step(&mut full, MessageStatus::Sending, None);
    step(
        &mut full,
        MessageStatus::Retrying,
        Some(MessageError {
            kind: ErrorKind::RateLimited,
            message: "slow down".into(),
        }),
    );

    insert_all(store, &[plain.clone(), full.clone()]).await;

    assert_eq!(store.message(&plain.id).await.unwrap(), Some(plain));
    let read = store.message(&full.id).await.unwrap();
    assert_eq!(read.as_ref().map(|m| m.events.len()), Some(3));
    assert_eq!(read, Some(full));
    assert_eq!(store.message(&MessageId::generate()).await.unwrap(), None);
}

pub async fn idempotency_key_duplicates_are_reported_and_the_rest_of_the_batch_applies(
    store: &dyn Store,
) {
    let mut first = queued("+40755000001", base_time());
    first.idempotency_key = Some("order-42".into());
    insert_all(store, std::slice::from_ref(&first)).await;

    let mut again = queued("+40755000001", base_time() + Duration::seconds(1));
    again.idempotency_key = Some("order-42".into());
    let keyless = queued("+40755000002", base_time() + Duration::seconds(2));
    let mut fresh = queued("+40755000003", base_time() + Duration::seconds(3));
    fresh.idempotency_key = Some("order-43".into());
    // The same key twice in one batch: the second sees the first.
    let mut twin = queued("+40755000003", base_time() + Duration::seconds(4));
    twin.idempotency_key = Some("order-43".into());

    let outcomes = commit(
        store,
        [&again, &keyless, &fresh, &twin]
            .map(|m| MessageWrite::Insert(m.clone().into()))
            .to_vec(),
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            WriteOutcome::DuplicateIdempotencyKey(first.id.clone()),
            WriteOutcome::Applied,
            WriteOutcome::Applied,
            WriteOutcome::DuplicateIdempotencyKey(fresh.id.clone()),
        ]
    );
    assert_eq!(store.message(&again.id).await.unwrap(), None);
    assert_eq!(store.message(&twin.id).await.unwrap(), None);
    assert_eq!(store.message(&first.id).await.unwrap(), Some(first));
    assert_eq!(store.message(&keyless.id).await.unwrap(), Some(keyless));
    assert_eq!(store.message(&fresh.id).await.unwrap(), Some(fresh));
    let listed = store
        .messages(
            &MessageFilter::default(),
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
}

pub async fn updates_append_events_in_order(store: &dyn Store) {
    use MessageStatus::*;
    let mut m = queued("+40755000001", base_time());
    m.idempotency_key = Some("order-7".into());
    insert_all(store, std::slice::from_ref(&m)).await;

    m.provider = Some("smso".into());
    m.attempts = 1;
    commit(store, vec![step(&mut m, Sending, None)]).await;
    let timeout = MessageError {
        kind: ErrorKind::Timeout,
        message: "no answer in 10 s".into(),
    };
    commit(store, vec![step(&mut m, Retrying, Some(timeout.clone()))]).await;
    let read = store.message(&m.id).await.unwrap().unwrap();
    assert_eq!((read.status, read.error), (Retrying, Some(timeout)));

    // Several steps of one message in one batch land in order.
    m.provider = Some("twilio".into());
    m.attempts = 2;
    let resend = step(&mut m, Sending, None);
    m.provider_message_id = Some("SM123".into());
    m.cost = Some(Money::from_millicents(3_500));
    let sent = step(&mut m, Sent, None);
    let delivered = step(&mut m, Delivered, None);
    let outcomes = commit(store, vec![resend, sent, delivered]).await;
    assert_eq!(outcomes, vec![WriteOutcome::Applied; 3]);

    let read = store.message(&m.id).await.unwrap().unwrap();
    let statuses: Vec<_> = read.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [Queued, Sending, Retrying, Sending, Sent, Delivered]
    );
    assert_eq!(read.events[1].provider.as_deref(), Some("smso"));
    assert_eq!(read.events[3].provider.as_deref(), Some("twilio"));
    // The error of the retry is cleared by the delivery, and the rest follows the message.
    assert_eq!(read.error, None);
    assert!(read.sent_at.is_some() && read.delivered_at.is_some());
    assert_eq!(read, m);
}

pub async fn a_batch_that_fails_keeps_none_of_its_writes(store: &dyn Store) {
    let kept = queued("+40755000001", base_time());
    insert_all(store, std::slice::from_ref(&kept)).await;

    let mut changed = kept.clone();
    let advance = step(&mut changed, MessageStatus::Sending, None);
    let new = queued("+40755000002", base_time() + Duration::seconds(1));
    // An update of a message that was never stored cannot apply.
    let mut ghost = queued("+40755000003", base_time() + Duration::seconds(2));
    let impossible = step(&mut ghost, MessageStatus::Sending, None);

    let result = store
        .commit_with_statistics(
            &[
                advance,
                MessageWrite::Insert(new.clone().into()),
                impossible,
            ],
            &[],
        )
        .await;
    assert!(result.is_err(), "the batch must fail: {result:?}");
    assert_eq!(store.message(&new.id).await.unwrap(), None);
    assert_eq!(store.message(&kept.id).await.unwrap(), Some(kept));
}

pub async fn unfinished_messages_are_the_non_final_ones_oldest_first(store: &dyn Store) {
    let all: Vec<Message> = MessageStatus::ALL
        .into_iter()
        .enumerate()
        .map(|(i, status)| {
            in_status(
                "+40755000001",
                base_time() + Duration::seconds(i as i64),
                status,
            )
        })
        .collect();
    // Inserted newest first: the answer's order must come from the messages, not the inserts.
    let reversed: Vec<Message> = all.iter().rev().cloned().collect();
    insert_all(store, &reversed).await;

    let unfinished = store.unfinished_messages().await.unwrap();
    let expected: Vec<Message> = all.into_iter().filter(|m| !m.status.is_final()).collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(unfinished, expected);
}

pub async fn receipt_lookup_by_provider_and_response_token(store: &dyn Store) {
    let mut smso = in_status("+40755000001", base_time(), MessageStatus::Sent);
    smso.provider_message_id = Some("abc".into());
    let mut twilio = in_status("+40755000002", base_time(), MessageStatus::Sent);
    twilio.provider = Some("twilio".into());
    twilio.provider_message_id = Some("abc".into());
    let mut sending = in_status("+40755000003", base_time(), MessageStatus::Sending);
    insert_all(store, &[smso.clone(), twilio.clone(), sending.clone()]).await;

    let find = |provider: &'static str, token: &'static str| async move {
        store.message_by_provider_id(provider, token).await.unwrap()
    };
    assert_eq!(find("smso", "abc").await, Some(smso));
    assert_eq!(find("twilio", "abc").await, Some(twilio));
    assert_eq!(find("smso", "zzz").await, None);
    assert_eq!(find("vonage", "abc").await, None);

    // A token learnt by an update is found too.
    sending.provider_message_id = Some("late".into());
    let sent = step(&mut sending, MessageStatus::Sent, None);
    commit(store, vec![sent]).await;
    assert_eq!(find("smso", "late").await, Some(sending));
}

/// A batch's figures go in with the batch: both are kept, or (when the batch fails) neither.
pub async fn statistics_commit_with_their_batch_or_not_at_all(store: &dyn Store) {
    use smsgate_actors::domain::{MessageType, StatsDelta, StatsQuery};
    let day = base_time().date_naive();
    let query = StatsQuery::days(day, day);
    let mut figures = StatsDelta::empty(day, "smso".into(), MessageType::Transactional);
    figures.sent = 1;

    let mut m = queued("+40755000001", base_time());
    insert_all(store, std::slice::from_ref(&m)).await;
    let advance = step(&mut m, MessageStatus::Sending, None);
    let mut ghost = queued("+40755000002", base_time());
    let impossible = step(&mut ghost, MessageStatus::Sending, None);
    let failed = store
        .commit_with_statistics(
            &[advance.clone(), impossible],
            std::slice::from_ref(&figures),
        )
        .await;
    assert!(failed.is_err(), "the batch must fail: {failed:?}");
    assert_eq!(store.statistics(&query).await.unwrap(), []);

    let outcomes = store
        .commit_with_statistics(&[advance], std::slice::from_ref(&figures))
        .await
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Applied]);
    assert_eq!(store.statistics(&query).await.unwrap(), [figures]);
    assert_eq!(
        store.message(&m.id).await.unwrap().unwrap().status,
        MessageStatus::Sending
    );
}
