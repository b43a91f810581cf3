//! The rules about usage (OTP runs, volume), the tick, and the actor's supervision.

use super::*;

#[tokio::test]
async fn an_otp_run_to_one_number_range_fires_and_resolves_when_it_stops() {
    let s = setup(&[("a", true, 0)], None, quiet(AlertsConfig::default())).await;
    for i in 0..10 {
        let request = smsgate_actors::SendSms {
            message_type: MessageType::Otp,
            ..sms(&format!("07551234{i:02}"), "your code is 1234")
        };
        s.h.engine.send(request).await.unwrap();
    }
    s.observed(10).await;
    assert_eq!(
        s.evaluate().await,
        [fired(AlertRule::OtpBurst, "+407551234xx", 0)]
    );
    s.advance(6 * 60);
    assert_eq!(
        s.evaluate().await,
        [resolved(AlertRule::OtpBurst, "+407551234xx", 1)]
    );
}

#[tokio::test]
async fn unusual_volume_fires_against_yesterdays_same_hour() {
    let config = quiet(AlertsConfig {
        volume_min: 5,
        volume_factor: 3.0,
        baseline_days: 1,
        baseline_min_days: 1,
        ..AlertsConfig::default()
    });
    let s = setup(&[("a", true, 0)], None, config).await;
    // Yesterday, one message in this hour.
    s.advance(3_600 + 1_800);
    s.h.engine
        .send(sms("0755123456", "yesterday"))
        .await
        .unwrap();
    s.observed(1).await;
    // A day later, six in the same hour: 6 > 3 × 1.
    s.advance(24 * 3_600);
    let mut sent = 0;
    for i in 0..6 {
        s.h.engine
            .send(sms("0755123456", &format!("today {i}")))
            .await
            .unwrap();
        sent += 1;
    }
    assert_eq!(sent, 6);
    tokio::time::timeout(Duration::from_secs(10), async {
        // The deliveries of the first messages are observed too; wait for the six acceptances.
        while s.h.engine.alerts_observed().await.unwrap() < 7 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let mut got = s.evaluate().await;
    got.sort();
    assert_eq!(
        got,
        [
            fired(AlertRule::UnusualVolume, "+40", 0),
            fired(AlertRule::UnusualVolume, "all", 0)
        ]
    );
    s.advance(3_601);
    got = s.evaluate().await;
    got.sort();
    assert_eq!(
        got,
        [
            resolved(AlertRule::UnusualVolume, "+40", 1),
            resolved(AlertRule::UnusualVolume, "all", 1)
        ]
    );
}

#[tokio::test]
async fn the_tick_tells_subscribers_without_being_asked() {
    let config = AlertsConfig {
        tick_ms: 20,
        low_credit_cents: 500.0,
        ..AlertsConfig::default()
    };
    let s = setup(&[("a", true, 0)], Some(100.0), config).await;
    let mut live = s.h.engine.subscribe_alerts();
    let alert = tokio::time::timeout(Duration::from_secs(10), live.next())
        .await
        .expect("told within the deadline")
        .expect("stream open");
    assert_eq!(
        (alert.rule, alert.state),
        (AlertRule::LowCredit, AlertState::Firing)
    );
    assert_eq!(alert.subject, "a");
    assert!(alert.message.contains("€1.00"), "{}", alert.message);
}

#[tokio::test]
async fn a_crashed_alerts_actor_is_restarted_and_keeps_its_open_alerts() {
    let s = setup(
        &[("a", true, 0)],
        Some(100.0),
        quiet(AlertsConfig::default()),
    )
    .await;
    s.wait_for_provider("a", |p| p.health.credit.is_some())
        .await;
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 0)]);
    // Wait until the firing notice is stored, then kill the actor.
    tokio::time::timeout(Duration::from_secs(5), async {
        while s
            .h
            .engine
            .alert_history(AlertQuery {
                limit: 1,
                ..AlertQuery::default()
            })
            .await
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let actor = alerts_actor(&s).await;
    actor.cast(AlertsMsg::Crash).unwrap();
    // The supervisor starts a new one; it must not fire the open alert again.
    let restarted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = try_alerts_actor(&s).await {
                if a.get_id() != actor.get_id() {
                    return a;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("restarted");
    assert_eq!(
        s.h.engine.alerts_observed().await.unwrap(),
        0,
        "a new actor"
    );
    drop(restarted);
    assert_eq!(s.evaluate().await, [], "still open, not fired again");
    s.advance(600);
    assert_eq!(s.evaluate().await, [fired(AlertRule::LowCredit, "a", 1)]);
}

async fn try_alerts_actor(s: &Setup) -> Option<ractor::ActorRef<AlertsMsg>> {
    ractor::call_t!(
        s.h.engine.supervisor(),
        smsgate_actors::supervisor::SupervisorMsg::AlertsActor,
        5_000
    )
    .unwrap()
}

async fn alerts_actor(s: &Setup) -> ractor::ActorRef<AlertsMsg> {
    try_alerts_actor(s).await.expect("alerts running")
}

/// A stored message of the past, already delivered (so recovery leaves it alone).
fn past(created_at: chrono::DateTime<Utc>) -> smsgate_actors::domain::Message {
    use smsgate_actors::domain::{Encoding, Message, MessageEvent, MessageId, E164};
    Message {
        id: MessageId::generate(),
        to: E164::parse("0755123456").unwrap(),
        body: "past".into(),
        message_type: MessageType::Transactional,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status: MessageStatus::Delivered,
        provider: Some("a".into()),
        provider_message_id: None,
        encoding: Encoding::Gsm7,
        segments: 1,
        cost: None,
        attempts: 1,
        error: None,
        created_at,
        updated_at: created_at,
        sent_at: Some(created_at),
        delivered_at: Some(created_at),
        expires_at: created_at,
        events: vec![MessageEvent {
            status: MessageStatus::Delivered,
            at: created_at,
            provider: Some("a".into()),
            error: None,
        }],
    }
}

#[tokio::test]
async fn the_volume_baseline_is_read_from_stored_messages_at_start() {
    let config = quiet(AlertsConfig {
        volume_min: 5,
        volume_factor: 3.0,
        baseline_days: 1,
        baseline_min_days: 1,
        ..AlertsConfig::default()
    });
    // The clock starts at 09:00; yesterday at 09:00 one message was sent, and one at 08:10
    // shows the store's history reaches back past yesterday's hour.
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    let store = MemoryStore::new();
    store.seed_message(past(start - Span::days(1)));
    store.seed_message(past(start - Span::days(1) - Span::minutes(50)));
    let s = setup_on(store, &[("a", true, 0)], None, config).await;
    // Six now, against one at this hour yesterday: judged at once, no day of waiting.
    s.advance(1_800);
    for i in 0..6 {
        s.h.engine
            .send(sms("0755123456", &format!("now {i}")))
            .await
            .unwrap();
    }
    // The two stored messages read at start, and the six new ones.
    s.observed(8).await;
    let mut got = s.evaluate().await;
    got.sort();
    assert_eq!(
        got,
        [
            fired(AlertRule::UnusualVolume, "+40", 0),
            fired(AlertRule::UnusualVolume, "all", 0)
        ]
    );
}
