//! Alerts end to end: a provider with low credit makes the real server tell an admin over the
//! `alerts` subscription, `alertHistory`, and a signed webhook that is retried until a fake
//! receiver on 127.0.0.1 accepts it.

use crate::helpers::{error_code, spawn_app_with_file, TestApp, ADMIN, SERVICE};
use crate::subscription::{connect, next_json};
use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use futures::SinkExt;
use hmac::Mac;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;

const SECRET: &str = "whsec-e2e-secret-7c1d";

/// A mock provider with €1 of credit: below the €5 low-credit default.
fn config(tick_ms: u64, cooldown_s: u64, webhook: Option<&str>) -> String {
    let mut file = format!(
        r#"
[[providers]]
name = "Mock"
slug = "mock"
kind = "MOCK"
settings = {{ starting_balance_cents = 100.0 }}

[alerts]
tick_ms = {tick_ms}
cooldown_s = {cooldown_s}
"#
    );
    if let Some(url) = webhook {
        file.push_str(&format!(
            "\n[alerts.webhook]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nmax_attempts = 5\nbackoff_base_ms = 10\nbackoff_max_ms = 50\n"
        ));
    }
    file
}

async fn app(file: &str) -> TestApp {
    spawn_app_with_file(tempfile::tempdir().unwrap(), Some(file), &[]).await
}

/// Checks `X-Smsgate-Signature: t=<unix>,v1=<hex>` as the README tells a receiver to.
fn signature_is_valid(header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    fresh && expected == v1
}

struct Receiver {
    fail_first: Mutex<usize>,
    tx: mpsc::UnboundedSender<(bool, StatusCode, Value)>,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = headers
        .get("x-smsgate-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let valid = signature_is_valid(header, &body);
    let status = if !valid {
        StatusCode::UNAUTHORIZED
    } else {
        let mut fail = r.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    };
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = r.tx.send((valid, status, json));
    status
}

#[tokio::test]
async fn a_low_credit_alert_reaches_a_signed_webhook_through_its_failures() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiver = Arc::new(Receiver {
        fail_first: Mutex::new(2),
        tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/smsgate", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/hooks/smsgate", post(receive))
        .with_state(receiver);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let app = app(&config(50, 1800, Some(&url))).await;

    let mut tries = Vec::new();
    while tries.len() < 3 {
        let got = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("the webhook is called within the deadline")
            .unwrap();
        tries.push(got);
    }
    let statuses: Vec<u16> = tries.iter().map(|(_, s, _)| s.as_u16()).collect();
    assert_eq!(statuses, [500, 500, 200], "two failures, then delivered");
    assert!(
        tries.iter().all(|(valid, _, _)| *valid),
        "every try is signed with the secret"
    );
    let body = &tries[2].2;
    assert_eq!(body, &tries[0].2, "the same notice is retried");
    assert_eq!(body["rule"], "low_credit");
    assert_eq!(body["subject"], "mock");
    assert_eq!(body["state"], "firing");
    assert_eq!(body["severity"], "warning");
    assert!(body["id"].as_str().unwrap().starts_with("alr_"));
    assert!(body["firedAt"].is_string() && body["at"].is_string());
    assert_eq!(body["details"]["creditCents"], 100.0);
    assert!(
        !body.to_string().contains(SECRET),
        "the secret is never in the notice"
    );
    // One notice in all: the repeat waits for the 30-minute cool-down.
    let history = app_history(&app).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["node"]["id"], body["id"]);
}

async fn app_history(app: &TestApp) -> Vec<Value> {
    let answer = app.graphql(HISTORY, json!({})).await;
    answer["data"]["alertHistory"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .clone()
}

const HISTORY: &str = "query { alertHistory(first: 5, rule: LOW_CREDIT) { edges { node { id rule subject state severity message } } pageInfo { hasNextPage } } }";

#[tokio::test]
async fn admins_follow_alerts_over_the_websocket_and_read_their_history_others_may_not() {
    // No cool-down: a repeat on every 50 ms tick, so a late subscriber still gets one.
    let app = app(&config(50, 0, None)).await;
    let mut ws = connect(&app, ADMIN).await;
    ws.send(Ws::text(
        json!({
            "id": "a1",
            "type": "subscribe",
            "payload": { "query": "subscription { alerts { id rule subject state severity message } }" }
        })
        .to_string(),
    ))
    .await
    .unwrap();
    let frame = next_json(&mut ws).await.expect("a notice");
    assert_eq!(frame["type"], "next", "{frame}");
    let alert = &frame["payload"]["data"]["alerts"];
    assert_eq!(alert["rule"], "LOW_CREDIT");
    assert_eq!(alert["subject"], "mock");
    assert_eq!(alert["state"], "FIRING");
    assert!(
        alert["message"].as_str().unwrap().contains("€1.00"),
        "{alert}"
    );

    let history = app.graphql(HISTORY, json!({})).await;
    let edges = history["data"]["alertHistory"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty(), "{history}");
    assert!(edges.iter().all(|e| e["node"]["rule"] == "LOW_CREDIT"));
    assert_eq!(
        edges[0]["node"]["id"], alert["id"],
        "one alert, many notices"
    );

    let refused = app.graphql_as(Some(SERVICE), HISTORY, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let mut ws = connect(&app, SERVICE).await;
    ws.send(Ws::text(
        json!({ "id": "s1", "type": "subscribe", "payload": { "query": "subscription { alerts { id } }" } })
            .to_string(),
    ))
    .await
    .unwrap();
    let frame = next_json(&mut ws).await.expect("an answer");
    // A resolver error comes as a `next` with errors, then the subscription completes.
    assert_eq!(frame["type"], "next", "{frame}");
    assert_eq!(frame["payload"]["data"], Value::Null, "{frame}");
    assert_eq!(
        frame["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{frame}"
    );
}
