//! The mock provider's behaviour under paused time: latency, failure shares, reports, credit.

use super::*;
use smsgate_actors::domain::{Encoding, MessageId, MessageType, E164};
use tokio::{sync::mpsc, time::Instant};

fn request(segments: u32) -> SendRequest {
    SendRequest {
        message_id: MessageId::generate(),
        to: E164::parse("+40755123456").unwrap(),
        body: "Your code is 123456".to_owned(),
        sender: None,
        encoding: Encoding::Gsm7,
        segments,
        message_type: MessageType::Otp,
        validity: None,
    }
}

fn mock(settings: serde_json::Value) -> (MockProvider, mpsc::UnboundedReceiver<DeliveryReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink: ReportSink = Arc::new(move |report| {
        let _ = tx.send(report);
    });
    let settings = MockSettings::from_json(&settings).unwrap();
    (MockProvider::new("mock", settings, sink), rx)
}

#[tokio::test(start_paused = true)]
async fn an_accepted_send_is_reported_delivered_after_the_delay_with_our_message_id() {
    let (provider, mut reports) = mock(serde_json::json!({"delivery_delay_ms": 5000}));
    let request = request(1);
    let started = Instant::now();

    let receipt = provider.send(&request).await.unwrap();
    assert!(receipt.provider_message_id.starts_with("mock-"));
    assert_eq!(
        provider
            .status(&receipt.provider_message_id)
            .await
            .unwrap()
            .status,
        DeliveryStatus::Pending
    );

    let report = reports.recv().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(5000));
    assert_eq!(report.status, DeliveryStatus::Delivered);
    assert_eq!(report.message_id, Some(request.message_id));
    assert_eq!(report.provider_message_id, receipt.provider_message_id);
    assert_eq!(report.provider, "mock");
    let status = provider.status(&receipt.provider_message_id).await.unwrap();
    assert_eq!(status.status, DeliveryStatus::Delivered);
    assert_eq!(status.at, Some(report.at));
}

#[tokio::test(start_paused = true)]
async fn every_call_takes_the_configured_latency() {
    let (provider, _reports) = mock(serde_json::json!({"latency_ms": 250}));
    let started = Instant::now();
    provider.send(&request(1)).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    provider.balance().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(500));
}

#[tokio::test]
async fn a_transient_failure_is_an_outage_that_counts_against_the_provider() {
    let (provider, _reports) = mock(serde_json::json!({"transient_failure_rate": 1.0}));
    let err = provider.send(&request(1)).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable);
    assert!(err.kind.counts_against_provider());
}

#[tokio::test]
async fn a_permanent_failure_is_an_invalid_recipient() {
    let (provider, _reports) = mock(serde_json::json!({"permanent_failure_rate": 1.0}));
    let err = provider.send(&request(1)).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InvalidRecipient);
    assert!(err.kind.is_permanent_for_message());
}

#[tokio::test(start_paused = true)]
async fn the_undelivered_share_is_reported_undelivered_with_a_reason() {
    let (provider, mut reports) = mock(serde_json::json!({"undelivered_rate": 1.0}));
    let receipt = provider.send(&request(1)).await.unwrap();
    let report = reports.recv().await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Undelivered);
    assert!(report.error.is_some());
    assert_eq!(
        provider
            .status(&receipt.provider_message_id)
            .await
            .unwrap()
            .status,
        DeliveryStatus::Undelivered
    );
}

#[tokio::test(start_paused = true)]
async fn with_deliver_off_no_report_ever_comes() {
    let (provider, mut reports) = mock(serde_json::json!({"deliver": false}));
    let receipt = provider.send(&request(1)).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(24 * 3600), reports.recv()).await;
    assert!(waited.is_err(), "a report arrived: {waited:?}");
    assert_eq!(
        provider
            .status(&receipt.provider_message_id)
            .await
            .unwrap()
            .status,
        DeliveryStatus::Pending
    );
}

#[tokio::test]
async fn each_send_is_charged_until_the_balance_cannot_pay() {
    let (provider, _reports) = mock(serde_json::json!({
        "starting_balance_cents": 3.0,
        "price_per_segment_cents": 1.0,
    }));
    assert_eq!(
        provider.balance().await.unwrap().credit,
        Some(Money::from_cents(3.0))
    );

    let receipt = provider.send(&request(2)).await.unwrap();
    assert_eq!(receipt.cost, Some(Money::from_cents(2.0)));
    assert_eq!(receipt.segments, Some(2));
    assert_eq!(
        provider.balance().await.unwrap().credit,
        Some(Money::from_cents(1.0))
    );

    let err = provider.send(&request(2)).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InsufficientCredit);
    assert_eq!(
        provider.balance().await.unwrap().credit,
        Some(Money::from_cents(1.0)),
        "a refused send is not charged"
    );
    // What it can still pay for goes through.
    provider.send(&request(1)).await.unwrap();
}

#[tokio::test]
async fn without_a_starting_balance_credit_is_unlimited_and_price_is_per_part() {
    let (provider, _reports) = mock(serde_json::json!({"price_per_segment_cents": 3.5}));
    let receipt = provider.send(&request(3)).await.unwrap();
    assert_eq!(receipt.cost, Some(Money::from_cents(10.5)));
    assert_eq!(provider.balance().await.unwrap().credit, None);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_outcomes_and_ids() {
    let settings = serde_json::json!({"transient_failure_rate": 0.5, "seed": 7});
    let (a, _ra) = mock(settings.clone());
    let (b, _rb) = mock(settings);
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        let left = a.send(&request(1)).await.map(|r| r.provider_message_id);
        let right = b.send(&request(1)).await.map(|r| r.provider_message_id);
        assert_eq!(
            left.as_ref().map_err(|e| e.kind),
            right.as_ref().map_err(|e| e.kind)
        );
        outcomes.push(left.is_ok());
    }
    assert!(outcomes.contains(&true) && outcomes.contains(&false));
}

#[tokio::test]
async fn it_records_every_send_it_was_asked_for_even_failed_ones() {
    let (provider, _reports) = mock(serde_json::json!({"permanent_failure_rate": 1.0}));
    let first = request(1);
    let _ = provider.send(&first).await;
    let _ = provider.send(&request(1)).await;
    let sent = provider.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], first);
}

#[tokio::test]
async fn an_id_it_never_issued_is_refused() {
    let (provider, _reports) = mock(serde_json::Value::Null);
    let err = provider.status("mock-nope").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Rejected);
}

#[test]
fn settings_default_when_absent_and_keep_other_keys_out() {
    let settings =
        MockSettings::from_json(&serde_json::json!({"max_concurrency": 4, "latency_ms": 10}))
            .unwrap();
    assert_eq!(
        settings,
        MockSettings {
            latency_ms: 10,
            ..MockSettings::default()
        }
    );
    assert!(MockSettings::from_json(&serde_json::json!({"latency_ms": "slow"})).is_err());
    assert!(MockSettings::from_json(&serde_json::json!({
        "transient_failure_rate": 0.6,
        "permanent_failure_rate": 0.6,
    }))
    .is_err());
}
