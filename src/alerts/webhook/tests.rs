//! The webhook sink against a fake receiver on 127.0.0.1 that checks the HMAC signature the way
//! the README tells receivers to, and can fail its first deliveries.

use super::*;
use crate::providers::outbound::OutboundPolicy;
use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use chrono::TimeZone;
use smsgate_actors::alerts::{AlertRule, AlertState, Severity};
use std::sync::Mutex;

const SECRET: &str = "whsec-test-3f9a";

#[derive(Default)]
struct Receiver {
    /// Answer 503 to this many requests before accepting.
    fail_first: Mutex<usize>,
    /// Every request: (its signature verified, the body).
    seen: Mutex<Vec<(bool, serde_json::Value)>>,
    arrived: tokio::sync::Notify,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let valid = verify(SECRET, header, &body, chrono::Utc::now().timestamp(), 300);
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    r.seen.lock().unwrap().push((valid, json));
    r.arrived.notify_waiters();
    if !valid {
        return StatusCode::UNAUTHORIZED;
    }
    let mut fail = r.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::NO_CONTENT
}

async fn receiver(fail_first: usize) -> (Arc<Receiver>, String) {
    let state = Arc::new(Receiver {
        fail_first: Mutex::new(fail_first),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (state, url)
}

fn settings(url: String, secret: &str, max_attempts: u32) -> WebhookSettings {
    WebhookSettings {
        url,
        secret: SecretString::new(secret),
        max_attempts,
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        queue: 8,
        outbound: OutboundPolicy::new(&["127.0.0.1"], false).unwrap(),
    }
}

fn alert(n: u32) -> Alert {
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 13, 0, 0)
        .unwrap();
    Alert {
        id: "alr_0123".into(),
        notice: n,
        rule: AlertRule::ProviderDown,
        subject: "smso".into(),
        state: AlertState::Firing,
        severity: Severity::Critical,
        message: "provider smso has been down for 61 s (circuit open)".into(),
        fired_at: at,
        at,
        details: serde_json::json!({ "reasons": ["circuit open"] }),
    }
}

/// Waits until the receiver has seen `n` requests.
async fn wait_for(r: &Receiver, n: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let notified = r.arrived.notified();
            if r.seen.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the receiver never saw {n} requests"));
}

#[tokio::test]
async fn a_signed_notice_is_retried_through_failures_until_delivered() {
    let (r, url) = receiver(2).await;
    let sink = WebhookSink::start(settings(url, SECRET, 5)).unwrap();
    sink.notify(Arc::new(alert(0)));
    wait_for(&r, 3).await;
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two 503s, then accepted: {seen:?}");
    assert!(seen.iter().all(|(valid, _)| *valid), "every try is signed");
    let body = &seen[2].1;
    assert_eq!(body["id"], "alr_0123");
    assert_eq!(body["rule"], "provider_down");
    assert_eq!(body["subject"], "smso");
    assert_eq!(body["state"], "firing");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["firedAt"], "2026-11-24T13:00:00Z");
    assert_eq!(body["at"], "2026-11-24T13:00:00Z");
    assert_eq!(body["details"]["reasons"][0], "circuit open");
    assert!(body["message"].as_str().unwrap().contains("down"));
}

#[tokio::test]
async fn attempts_are_bounded_and_a_refusal_is_not_retried() {
    let client = client(&settings(String::new(), SECRET, 1)).unwrap();
    // Always 503: exactly `max_attempts` tries.
    let (r, url) = receiver(usize::MAX).await;
    let outcome = deliver(&client, &settings(url, SECRET, 3), &alert(0)).await;
    assert_eq!(outcome, Delivery::GaveUp { attempts: 3 });
    assert_eq!(r.seen.lock().unwrap().len(), 3);
    // Signed with another secret: the receiver answers 401 once, and that is final.
    let (r, url) = receiver(0).await;
    let outcome = deliver(&client, &settings(url, "wrong-secret", 3), &alert(0)).await;
    assert_eq!(
        outcome,
        Delivery::Refused {
            status: 401,
            attempts: 1
        }
    );
    assert_eq!(r.seen.lock().unwrap().clone().len(), 1);
    assert!(
        !r.seen.lock().unwrap()[0].0,
        "the receiver caught the wrong key"
    );
    // Nobody listening: transport errors are retried, then given up.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let outcome = deliver(&client, &settings(closed, SECRET, 2), &alert(0)).await;
    assert_eq!(outcome, Delivery::GaveUp { attempts: 2 });
}

#[tokio::test]
async fn a_dead_receiver_cannot_grow_the_queue() {
    // A receiver that accepts the connection and never answers holds the first notice.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let (tx, mut rx) = mpsc::channel(2);
    let registry = prometheus::Registry::new();
    let series = AlertSeries::register(&registry).unwrap();
    let sink = WebhookSink {
        tx,
        metrics: Some(series),
    };
    for n in 0..10 {
        sink.notify(Arc::new(alert(n)));
    }
    // Only the queue's two places were taken; the other eight were dropped, not buffered.
    let mut queued = Vec::new();
    while let Ok(a) = rx.try_recv() {
        queued.push(a.notice);
    }
    assert_eq!(queued, [0, 1]);
    let scrape = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        scrape.contains("smsgate_alert_webhook_deliveries_total{outcome=\"dropped\"} 8"),
        "{scrape}"
    );
    held.abort();
    let _ = url;
}

#[test]
fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_timestamp() {
    let body = br#"{"id":"alr_1"}"#;
    let header = sign(SECRET, 1_764_000_000, body).unwrap();
    assert!(header.starts_with("t=1764000000,v1="));
    assert_eq!(header.len(), "t=1764000000,v1=".len() + 64);
    assert!(verify(SECRET, &header, body, 1_764_000_100, 300));
    assert!(!verify("other", &header, body, 1_764_000_100, 300));
    assert!(!verify(
        SECRET,
        &header,
        br#"{"id":"alr_2"}"#,
        1_764_000_100,
        300
    ));
    assert!(
        !verify(SECRET, &header, body, 1_764_000_400, 300),
        "too old: a replay"
    );
    assert!(!verify(SECRET, "v1=abc", body, 1_764_000_000, 300));
    let settings = settings("http://x".into(), SECRET, 1);
    assert!(
        !format!("{settings:?}").contains(SECRET),
        "the secret never shows in Debug"
    );
}

#[tokio::test]
async fn a_webhook_name_resolving_to_loopback_is_refused_and_not_retried() {
    // Only 127.0.0.1 is listed: `localhost`, which resolves to it, is not.
    let (r, url) = receiver(0).await;
    let url = url.replace("127.0.0.1", "localhost");
    let settings = settings(url, SECRET, 3);
    let outcome = deliver(&client(&settings).unwrap(), &settings, &alert(0)).await;
    assert_eq!(outcome, Delivery::GaveUp { attempts: 1 });
    assert!(r.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_from_the_receiver_is_not_followed() {
    let (r, target) = receiver(0).await;
    let app = Router::new().route(
        "/hook",
        post(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", target)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let settings = settings(url, SECRET, 3);
    let outcome = deliver(&client(&settings).unwrap(), &settings, &alert(0)).await;
    assert_eq!(
        outcome,
        Delivery::Refused {
            status: 307,
            attempts: 1
        }
    );
    assert!(r.seen.lock().unwrap().is_empty());
}
