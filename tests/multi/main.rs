//! Two `smsgate serve` processes on one MongoDB database (issue 7), against a fake SMSO on
//! loopback that counts every send by its body. Concurrent clients send 1,000 messages through
//! both instances with idempotency keys; instance A is killed with SIGKILL half-way and its
//! clients carry on through B with the same keys.
//!
//! Checks: every acknowledged message reaches a final state (B takes A's over when their leases
//! run out); the fake received each message at most once (those SENDING at the kill end
//! FAILED/INTERRUPTED and are listed); the statistics add up. A second test: a provider
//! activated through one instance is the default on the other, and a `messageUpdates`
//! subscriber on one instance sees a message sent and delivered through the other.
//!
//! Needs `SMSGATE_TEST_MONGODB_URI` (scripts/test starts SecantusDB); without it the tests say
//! so and pass, except under CI, where that is a failure. `SMSGATE_MULTI_MESSAGES` sets the
//! number of messages (default 1,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/binary.rs"]
mod binary;
mod harness;
mod takeover;

use binary::{Stored, FINAL, SEND};
use harness::*;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{atomic::AtomicUsize, Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_one_takes_over_when_the_other_is_killed() {
    let started = Instant::now();
    let total: usize = std::env::var("SMSGATE_MULTI_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let clients = 10;
    let (fake, fake_addr) = start_fake().await;
    let Some((db, _)) = prepare("the two-instance test", fake_addr).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_server(&db, "a", dir_a.path());
    let b = start_server(&db, "b", dir_b.path());
    let (to_a, via_a) = watch::channel(a.url.clone());
    let (_to_b, via_b) = watch::channel(b.url.clone());

    // Half the clients talk to A, half to B.
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let url = if k % 2 == 0 {
                via_a.clone()
            } else {
                via_b.clone()
            };
            tokio::spawn(client_loop(next.clone(), total, acked.clone(), url))
        })
        .collect();

    // SIGKILL A once half the messages were acknowledged; its clients go on through B.
    while acked.lock().unwrap().len() < total / 2 {
        assert!(
            started.elapsed() < DEADLINE,
            "the first half was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed_at = Instant::now();
    let sends_before_kill: usize = fake.sends.lock().unwrap().values().sum();
    to_a.send(b.url.clone()).unwrap();
    // The takeover shows first as a message A was sending, failed by B as interrupted.
    let first_takeover = tokio::spawn(first_interrupted(b.url.clone(), killed_at));
    for task in tasks {
        tokio::time::timeout(DEADLINE.saturating_sub(started.elapsed()), task)
            .await
            .expect("the clients finish in time")
            .unwrap();
    }
    let all_acked_at = killed_at.elapsed();

    // Every message reaches a final state: B took A's over when their leases ran out.
    let client = reqwest::Client::new();
    let messages = loop {
        let messages = CALLER.all_messages(&client, &b.url).await;
        let open: Vec<&Stored> = messages
            .iter()
            .filter(|m| !FINAL.contains(&m.status.as_str()))
            .collect();
        if open.is_empty() {
            break messages;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} messages are still not final, among them: {:?}",
            open.len(),
            &open[..open.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let all_final = killed_at.elapsed();
    let takeover = tokio::time::timeout(Duration::from_secs(5), first_takeover)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();

    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), total, "every request was answered in the end");
    assert_eq!(messages.len(), total, "one message per key, no strays");
    let by_id: HashMap<&str, &Stored> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    for (i, id) in &acked {
        let stored = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged message {id} (key multi-{i}) was lost"));
        assert_eq!(
            stored.body,
            CALLER.body_of(*i),
            "key multi-{i} answered another message"
        );
    }

    let sends = fake.sends.lock().unwrap().clone();
    let duplicates: BTreeMap<&String, &usize> = sends.iter().filter(|(_, n)| **n > 1).collect();
    let count = |status: &str| messages.iter().filter(|m| m.status == status).count();
    let (delivered, failed) = (count("DELIVERED"), count("FAILED"));
    let (undelivered, expired) = (count("UNDELIVERED"), count("EXPIRED"));
    let interrupted: Vec<&Stored> = messages
        .iter()
        .filter(|m| m.error.as_deref() == Some("INTERRUPTED"))
        .collect();

    println!("two-instance test: {total} messages from {clients} clients through 2 instances, lease {LEASE_MS} ms");
    println!("  provider sends before the kill of A:   {sends_before_kill}");
    println!("  all acknowledged, after the kill:      {all_acked_at:.1?}");
    match takeover {
        Some(after) => println!("  first message taken over, after kill:  {after:.1?}"),
        None => println!("  first message taken over, after kill:  none was SENDING at the kill"),
    }
    println!("  all final, after the kill:             {all_final:.1?}");
    println!("  delivered:                             {delivered}");
    println!("  failed:                                {failed}");
    println!("  undelivered / expired:                 {undelivered} / {expired}");
    println!(
        "  interrupted (ambiguous):               {}",
        interrupted.len()
    );
    for m in &interrupted {
        println!(
            "    {} {:?}: the fake received it {} time(s); not resent",
            m.id,
            m.body,
            sends.get(&m.body).copied().unwrap_or(0)
        );
    }
    println!(
        "  provider sends in all:                 {}",
        sends.values().sum::<usize>()
    );
    println!(
        "  duplicates at the fake:                {}",
        duplicates.len()
    );

    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    assert_eq!(failed, interrupted.len(), "only interrupted sends fail");
    assert_eq!(undelivered + expired, 0);
    for m in messages.iter().filter(|m| m.status == "DELIVERED") {
        assert_eq!(sends.get(&m.body), Some(&1), "{} was delivered", m.id);
    }

    let figures = CALLER.statistics_totals(&client, &b.url).await;
    println!(
        "  statistics sent/delivered/failed:      {}/{}/{}",
        figures.0, figures.1, figures.2
    );
    println!("  took {:.1?}", started.elapsed());
    let expected = (
        i64::try_from(delivered + undelivered).unwrap(),
        i64::try_from(delivered).unwrap(),
        i64::try_from(failed + undelivered + expired).unwrap(),
    );
    assert_eq!(figures, expected, "statistics (sent, delivered, failed)");
    drop((a, b));
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_and_live_updates_are_shared_between_instances() {
    let (_fake, fake_addr) = start_fake().await;
    let Some((db, second)) = prepare("the shared default and updates test", fake_addr).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_server(&db, "a", dir_a.path());
    let b = start_server(&db, "b", dir_b.path());
    let client = reqwest::Client::new();

    // Activated through A: B names it the default within seconds.
    let activated = Instant::now();
    CALLER
        .graphql(
            &client,
            &a.url,
            "mutation($id: ID!) { activateProvider(id: $id) { slug isDefault } }",
            json!({ "id": second.id.as_str() }),
        )
        .await;
    let defaults = |answer: &Value| -> Vec<String> {
        answer["data"]["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["isDefault"] == true)
            .map(|p| p["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    loop {
        let answer = CALLER
            .graphql(
                &client,
                &b.url,
                "{ providers { slug isDefault } }",
                json!({}),
            )
            .await;
        if defaults(&answer) == ["smso2"] {
            break;
        }
        assert!(
            activated.elapsed() < Duration::from_secs(15),
            "B still has {:?} as the default",
            defaults(&answer)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let propagated = activated.elapsed();

    // A subscriber on A follows a message sent through B, to DELIVERED. A message sent through
    // A itself first shows the subscription is registered (A's own bus carries it).
    let mut ws = subscribe(&a.url, "+40755888001").await;
    let send = |url: String, body: &'static str| {
        let client = client.clone();
        async move {
            let answer = CALLER
                .graphql(
                    &client,
                    &url,
                    SEND,
                    json!({ "input": { "to": "0755888001", "body": body } }),
                )
                .await;
            answer["data"]["sendSms"]["message"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let probe = send(a.url.clone(), "through A").await;
    while next_frame(&mut ws).await["payload"]["data"]["messageUpdates"]["id"] != probe.as_str() {}
    let subscribed = Instant::now();
    let through_b = send(b.url.clone(), "through B").await;
    let mut seen: Vec<String> = Vec::new();
    while seen.last().map(String::as_str) != Some("DELIVERED") {
        let frame = next_frame(&mut ws).await;
        assert_eq!(frame["type"], "next", "{frame}");
        let update = &frame["payload"]["data"]["messageUpdates"];
        if update["id"] == through_b.as_str() {
            seen.push(update["status"].as_str().unwrap().to_owned());
        }
    }
    println!(
        "shared default: seen on B after {propagated:.1?}; update of a message sent through B seen on A: {seen:?} in {:.1?}",
        subscribed.elapsed()
    );
    assert!(
        propagated < Duration::from_secs(5),
        "within seconds: {propagated:?}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("DELIVERED"));
    drop((a, b));
    drop_database(&db).await;
}
