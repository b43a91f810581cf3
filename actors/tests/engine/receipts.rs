//! Receipts that overtake the provider's answer to the send: the message still passes through
//! SENT, and the cost from the answer is stored and counted, whichever way the receipt comes.

use crate::helpers::{harness, send};
use chrono::Utc;
use smsgate_actors::{
    domain::{DailyStats, Message, MessageStatus, StatsQuery},
    ports::{DeliveryReport, DeliveryStatus, ProviderErrorKind},
    test_support::wait_for_status,
    Engine,
};

fn delivered(
    provider: &str,
    provider_message_id: &str,
    message: Option<&Message>,
) -> DeliveryReport {
    DeliveryReport {
        provider: provider.into(),
        provider_message_id: provider_message_id.into(),
        message_id: message.map(|m| m.id.clone()),
        status: DeliveryStatus::Delivered,
        at: Utc::now(),
        error: None,
    }
}

fn statuses(m: &Message) -> Vec<MessageStatus> {
    m.events.iter().map(|e| e.status).collect()
}

/// Today's one row of figures (every test here uses one provider).
async fn today(engine: &Engine) -> DailyStats {
    let day = Utc::now().date_naive();
    let mut rows = engine.statistics(StatsQuery::days(day, day)).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.remove(0)
}

const FULL_LIFE: [MessageStatus; 4] = [
    MessageStatus::Queued,
    MessageStatus::Sending,
    MessageStatus::Sent,
    MessageStatus::Delivered,
];

#[tokio::test]
async fn a_receipt_naming_our_id_before_the_send_answer_waits_for_sent_and_keeps_the_cost() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    fakes[0].set_auto_deliver(false);
    fakes[0].hold();
    let m = send(&h.engine, "0755123456", "hello").await;
    fakes[0].wait_for_calls(1).await;

    // The provider's webhook echoes our id while its answer to the send is still on the way.
    h.engine
        .report_delivery(delivered("mock", "scripted-0", Some(&m)));
    // A round trip through the Router: the receipt above was handled before this answers.
    h.engine.providers().await.unwrap();
    let meanwhile = h.engine.message(m.id.as_str()).await.unwrap();
    assert_eq!(meanwhile.status, MessageStatus::Sending, "{meanwhile:?}");

    fakes[0].release(1);
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(statuses(&done), FULL_LIFE);
    let stored = h.engine.message(m.id.as_str()).await.unwrap();
    assert_eq!(statuses(&stored), FULL_LIFE);
    assert_eq!(stored.cost.map(|c| c.cents()), Some(1.0));
    assert_eq!(stored.provider_message_id.as_deref(), Some("scripted-0"));
    assert!(stored.sent_at.is_some() && stored.delivered_at.is_some());

    let stats = today(&h.engine).await;
    assert_eq!(
        (stats.sent_count, stats.delivered_count),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.total_cost.cents(), 1.0, "{stats:?}");
}

#[tokio::test]
async fn a_receipt_by_provider_id_before_the_send_answer_is_applied_after_sent() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    fakes[0].set_auto_deliver(false);
    fakes[0].hold();
    let m = send(&h.engine, "0755123456", "hello").await;
    fakes[0].wait_for_calls(1).await;

    h.engine
        .report_delivery(delivered("mock", "scripted-0", None));
    h.engine.providers().await.unwrap();
    fakes[0].release(1);
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(statuses(&done), FULL_LIFE);
    let stored = h.engine.message(m.id.as_str()).await.unwrap();
    assert_eq!(stored.cost.map(|c| c.cents()), Some(1.0));
}

#[tokio::test]
async fn a_receipt_for_a_send_that_then_errs_still_finishes_the_message_once() {
    // The provider took the message (its receipt says so) but its answer was lost: the receipt
    // is the only word on it, so it is applied instead of sending the text again.
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    fakes[0].set_auto_deliver(false);
    fakes[0].hold();
    fakes[0].fail_next(ProviderErrorKind::Timeout, 1);
    let m = send(&h.engine, "0755123456", "hello").await;
    fakes[0].wait_for_calls(1).await;

    h.engine
        .report_delivery(delivered("mock", "scripted-0", Some(&m)));
    h.engine.providers().await.unwrap();
    fakes[0].release(1);
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    assert_eq!(
        statuses(&done),
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Delivered
        ]
    );
    assert_eq!(fakes[0].call_count(), 1);
    let stats = today(&h.engine).await;
    assert_eq!(
        (stats.sent_count, stats.delivered_count),
        (1, 1),
        "{stats:?}"
    );
}

/// A receipt applies only to a message its provider sent: another provider's webhook naming our
/// id, or the same provider message id, changes nothing; the sender's own receipt still does.
#[tokio::test]
async fn a_receipt_from_another_provider_changes_nothing() {
    let (h, fakes) = harness(&[("mock", true, 0), ("other", false, 1)]).await;
    fakes[0].set_auto_deliver(false);
    let m = send(&h.engine, "0755123456", "hello").await;
    let sent = wait_for_status(&h.engine, &m.id, MessageStatus::Sent).await;
    assert_eq!(sent.provider.as_deref(), Some("mock"));

    h.engine
        .report_delivery(delivered("other", "scripted-0", Some(&m)));
    h.engine
        .report_delivery(delivered("other", "scripted-0", None));
    // The sender's own receipt, after the forged ones: it must be the one that finishes it.
    h.engine.report_delivery(DeliveryReport {
        status: DeliveryStatus::Undelivered,
        ..delivered("mock", "scripted-0", None)
    });
    let done = wait_for_status(&h.engine, &m.id, MessageStatus::Undelivered).await;
    assert_eq!(
        statuses(&done),
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Undelivered
        ]
    );
}

/// Forged receipts naming ids no message has are looked up again for a while (another instance
/// may not have stored its send's answer yet), but the store work that buys is bounded overall,
/// however many of them come.
#[tokio::test(start_paused = true)]
async fn unknown_receipts_cost_a_bounded_number_of_store_lookups() {
    let (h, _fakes) = harness(&[("mock", true, 0)]).await;
    const FORGED: usize = 1_000;
    for n in 0..FORGED {
        h.engine
            .report_delivery(delivered("mock", &format!("forged-{n}"), None));
    }
    // Paused time passes only while every task is idle: each tick's look-ups are done by then.
    let window = 61;
    tokio::time::sleep(std::time::Duration::from_secs(window)).await;
    let lookups = h.store.provider_id_lookups();
    // Each one once when it comes, then at most the retry budget per tick, overall.
    let bound = FORGED + RETRY_LOOKUPS_PER_TICK * window as usize;
    assert!(lookups >= FORGED, "{lookups}");
    assert!(lookups <= bound, "{lookups} look-ups, more than {bound}");
    // Past the retry window they are dropped: no more store work at all.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let after = h.store.provider_id_lookups();
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    assert_eq!(h.store.provider_id_lookups(), after);
}

/// The Router's budget of receipt look-ups per tick (actors/src/router.rs).
const RETRY_LOOKUPS_PER_TICK: usize = 50;
