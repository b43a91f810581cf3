//! Status polling against the fake SMSO, with injected short intervals: the waits between the
//! checks of one message double up to the cap, and a backlog is checked one round at a time
//! (never several rounds at once), asserted on the requests the fake recorded.

use crate::fakes::{smso::FakeSmso, spawn_with_providers, Provider};
use serde_json::{json, Value};
use std::{sync::atomic::Ordering, time::Duration};

fn smso(fake: &FakeSmso, settings: Value) -> Provider {
    fake.provider(settings)
}

#[tokio::test]
async fn the_wait_between_status_checks_doubles_up_to_the_cap() {
    let fake = FakeSmso::start().await;
    let settings = json!({ "status_poll_initial_ms": 100, "status_poll_max_ms": 400 });
    let (app, _) = spawn_with_providers(vec![smso(&fake, settings)], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    app.wait_for_status(sent["id"].as_str().unwrap(), "SENT")
        .await;
    let sent_at = fake.journal.to_path("/api/v1/send")[0].at;
    let polls = fake.journal.wait_for("/api/v1/status", 5).await;
    let gaps: Vec<Duration> = std::iter::once(polls[0].at - sent_at)
        .chain(polls.windows(2).map(|w| w[1].at - w[0].at))
        .collect();
    // 100 ms, then 200, 400, and 400 again: the cap holds (without it the last would be 800).
    let floors = [100, 200, 400, 400, 400];
    for (gap, floor) in gaps.iter().zip(floors) {
        assert!(*gap >= Duration::from_millis(floor), "{gaps:?}");
    }
    assert!(gaps[4] < Duration::from_millis(800), "{gaps:?}");
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_is_polled_one_round_at_a_time() {
    let fake = FakeSmso::start().await;
    // Each status answer takes 50 ms: checks that overlapped would be seen by the fake.
    fake.set_status_delay(Duration::from_millis(50));
    let settings = json!({
        "status_poll_initial_ms": 200,
        "status_poll_max_ms": 60_000,
        "status_poll_batch": 2,
    });
    let (app, _) = spawn_with_providers(vec![smso(&fake, settings)], None).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let sent = app
            .send_sms(json!({ "to": format!("+4072233440{n}"), "body": "x" }))
            .await;
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_for_status(id, "SENT").await;
    }
    // All five come due together; each is checked once, in rounds of at most two.
    let polls = fake.journal.wait_for("/api/v1/status", 5).await;
    assert_eq!(
        fake.status_max_in_flight.load(Ordering::SeqCst),
        1,
        "checks overlapped"
    );
    assert!(polls
        .windows(2)
        .all(|w| w[1].at - w[0].at >= Duration::from_millis(50)));
}
