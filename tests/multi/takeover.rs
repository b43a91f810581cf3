//! The takeover with the default lease (issue 13): instance A holds messages it could not send
//! yet (its provider was down; it would retry only in ten minutes) and is killed with SIGKILL.
//! Instance B must claim them once A's heartbeat ran out (about 1.5 leases), send each exactly
//! once, and go on renewing its own heartbeat meanwhile: a lease keeper stuck in a claim used to
//! leave them QUEUED for minutes and let B's own lease run out.

use crate::harness::*;
use mongodb::bson::{doc, DateTime, Document};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The default `lease_ms` (config/defaults.toml).
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
const MESSAGES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_lease_b_delivers_what_a_killed_instance_held() {
    let (fake, fake_addr) = start_fake().await;
    let Some((db, _)) = prepare("the default-lease takeover test", fake_addr).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let slow_retries = [
        ("SMSGATE_RETRY_BASE_MS", "600000".to_owned()),
        ("SMSGATE_RETRY_MAX_MS", "600000".to_owned()),
    ];
    let mut a = start_instance(&db, "a", dir_a.path(), None, &slow_retries);
    let b = start_instance(&db, "b", dir_b.path(), None, &[]);
    let client = reqwest::Client::new();

    // The provider is down: A's messages wait as RETRYING, held by A.
    fake.down.store(true, Ordering::SeqCst);
    for i in 0..MESSAGES {
        CALLER
            .send_once(&client, &a.url, i)
            .await
            .expect("A accepts the message");
    }
    let waiting = Instant::now();
    loop {
        let messages = CALLER.all_messages(&client, &a.url).await;
        if messages.len() == MESSAGES && messages.iter().all(|m| m.status == "RETRYING") {
            break;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "A's messages never waited as RETRYING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fake.down.store(false, Ordering::SeqCst);
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    let b_heartbeat_at_kill = heartbeat(&db, "b").await;

    // B delivers them. Three leases is far beyond the expected 1.5: reaching it is the defect.
    let bound = DEFAULT_LEASE * 3;
    loop {
        let messages = CALLER.all_messages(&client, &b.url).await;
        if messages.iter().all(|m| m.status == "DELIVERED") {
            break;
        }
        assert!(
            killed.elapsed() < bound,
            "after {:?} B has not delivered A's messages: {messages:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = killed.elapsed();
    println!(
        "default-lease takeover: {MESSAGES} RETRYING messages of the killed A delivered by B {took:.1?} after the kill (lease {DEFAULT_LEASE:?})"
    );

    // B's own heartbeat went on through the takeover, and is still ahead of the clock.
    let b_heartbeat_now = heartbeat(&db, "b").await;
    assert!(
        b_heartbeat_now > b_heartbeat_at_kill,
        "B's heartbeat was not renewed during the takeover"
    );
    assert!(b_heartbeat_now > DateTime::now(), "B's lease ran out");
    let sends = fake.sends.lock().unwrap().clone();
    for i in 0..MESSAGES {
        assert_eq!(
            sends.get(&CALLER.body_of(i)),
            Some(&1),
            "message {i} is sent exactly once"
        );
    }
    drop(b);
    drop_database(&db).await;
}

/// When `instance`'s heartbeat in `sms_instances` runs out.
async fn heartbeat(db: &Database, instance: &str) -> DateTime {
    let store = smsgate::store::MongoStore::connect(&db.uri, &db.name)
        .await
        .unwrap();
    let doc = store
        .database()
        .collection::<Document>("sms_instances")
        .find_one(doc! { "_id": instance })
        .await
        .unwrap()
        .expect("the instance has a heartbeat");
    *doc.get_datetime("alive_until").unwrap()
}
