//! /graphql/ws against hostile or broken clients: every `subscribe` is charged to the token's
//! rate like a POST /graphql, and the protocol's close codes (1009, 4400, 4401, 4403, 4408,
//! 4409, 4429) for what it does not accept.

use crate::{
    helpers::*,
    subscription::{connect, next_json, open, subscribe, Socket},
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smsgate::http::auth::Role;
use std::{collections::HashMap, time::Duration};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;

async fn say(ws: &mut Socket, message: Value) {
    ws.send(Ws::text(message.to_string())).await.unwrap();
}

/// The close code the server ends the connection with, skipping what comes before it; waits
/// at most 10 s.
async fn close_code(ws: &mut Socket) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the server closed the connection in time");
        match frame {
            Some(Ok(Ws::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Ws::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("connection failed instead of closing: {err}"),
        }
    }
}

fn init(token: &str) -> Value {
    json!({"type": "connection_init", "payload": {"token": token}})
}

const SEND: &str =
    r#"mutation($to: String!) { sendSms(input: {to: $to, body: "salut"}) { message { id } } }"#;

#[tokio::test]
async fn each_subscribe_is_charged_to_the_tokens_rate_and_the_connection_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        ("SMSGATE_RATE_LIMIT_PER_SECOND", "1"),
        ("SMSGATE_RATE_LIMIT_BURST", "5"),
    ];
    let app = spawn_app_in(dir, &limits).await;
    let mut ws = connect(&app, ADMIN).await;
    let started = Instant::now();
    for i in 0..200 {
        say(
            &mut ws,
            json!({"id": i.to_string(), "type": "subscribe", "payload": {
                "query": SEND, "variables": {"to": format!("+4075500{i:04}")}
            }}),
        )
        .await;
    }
    // Each operation ends in `complete` (it ran) or `error` (it did not).
    let mut outcome: HashMap<String, &str> = HashMap::new();
    while outcome.len() < 200 {
        let frame = next_json(&mut ws).await.expect("the connection stays open");
        let id = frame["id"].as_str().unwrap_or_default().to_owned();
        match frame["type"].as_str() {
            Some("next") => assert!(frame["payload"]["errors"].is_null(), "{frame}"),
            Some("complete") => {
                outcome.insert(id, "ran");
            }
            Some("error") => {
                assert_eq!(
                    frame["payload"][0]["extensions"]["code"], "RATE_LIMITED",
                    "{frame}"
                );
                assert!(frame["payload"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));
                outcome.insert(id, "refused");
            }
            _ => panic!("unexpected {frame}"),
        }
    }
    let ran = outcome.values().filter(|o| **o == "ran").count();
    // The burst, plus one per second the test took to refill.
    let allowed = 5 + started.elapsed().as_secs() as usize + 1;
    assert!((1..=allowed).contains(&ran), "{ran} of 200 ran");
    // Still open and answering.
    say(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let app = spawn_app().await;
    let mut ws = connect(&app, ADMIN).await;
    let query = format!("{{ providers {{ slug }} }} # {}", "x".repeat(70 * 1024));
    let sent = ws
        .send(Ws::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": query}}).to_string(),
        ))
        .await;
    assert!(sent.is_ok());
    assert_eq!(close_code(&mut ws).await, 1009);
}

#[tokio::test]
async fn no_connection_init_in_time_closes_with_4408() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_WS_INIT_TIMEOUT_MS", "200")]).await;
    let mut ws = open(&app).await;
    assert_eq!(close_code(&mut ws).await, 4408);
}

#[tokio::test]
async fn refused_tokens_and_protocol_violations_get_their_close_codes() {
    let app = spawn_app().await;
    let mut ws = open(&app).await;
    say(&mut ws, init("wrong")).await;
    assert_eq!(close_code(&mut ws).await, 4403, "a wrong token");

    let mut ws = open(&app).await;
    say(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(close_code(&mut ws).await, 4403, "no token");

    let mut ws = open(&app).await;
    say(&mut ws, json!({"type": "start", "id": "1"})).await;
    assert_eq!(
        close_code(&mut ws).await,
        4400,
        "not a message of the protocol"
    );

    let mut ws = open(&app).await;
    ws.send(Ws::text("not json")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 4400, "not JSON");

    let mut ws = open(&app).await;
    subscribe(&mut ws, "1", &json!({})).await;
    assert_eq!(close_code(&mut ws).await, 4401, "subscribe before the ack");

    let mut ws = connect(&app, ADMIN).await;
    say(&mut ws, init(ADMIN)).await;
    assert_eq!(close_code(&mut ws).await, 4429, "a second connection_init");

    let mut ws = connect(&app, ADMIN).await;
    subscribe(&mut ws, "same", &json!({})).await;
    subscribe(&mut ws, "same", &json!({})).await;
    assert_eq!(close_code(&mut ws).await, 4409, "an id already running");
}

#[tokio::test]
async fn connections_per_token_and_operations_per_connection_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let caps = [
        ("SMSGATE_WS_MAX_CONNECTIONS_PER_TOKEN", "2"),
        ("SMSGATE_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "2"),
    ];
    let app = spawn_app_in(dir, &caps).await;
    let mut first = connect(&app, ADMIN).await;
    let second = connect(&app, ADMIN).await;
    let mut third = open(&app).await;
    say(&mut third, init(ADMIN)).await;
    assert_eq!(close_code(&mut third).await, 4429);
    let _other_token = connect(&app, SERVICE).await;

    subscribe(&mut first, "a", &json!({})).await;
    subscribe(&mut first, "b", &json!({})).await;
    subscribe(&mut first, "c", &json!({})).await;
    let refused = next_json(&mut first).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "c");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(refused["payload"][0]["message"]
        .as_str()
        .unwrap()
        .contains("at most 2 operations"));
    // Completing one makes room for another.
    say(&mut first, json!({"type": "complete", "id": "a"})).await;
    subscribe(&mut first, "d", &json!({})).await;
    say(&mut first, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut first).await.unwrap()["type"], "pong");

    // A closed connection gives its place back.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = open(&app).await;
        say(&mut again, init(ADMIN)).await;
        match next_json(&mut again).await {
            Some(frame) if frame["type"] == "connection_ack" => break,
            _ => {
                assert!(Instant::now() < deadline, "the place was never freed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_revoked_tokens_open_subscriptions_are_closed_with_4403() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_WS_TOKEN_RECHECK_MS", "200")]).await;
    let token = app.create_token("dashboard", Role::Viewer).await;
    let mut ws = connect(&app, &token).await;
    subscribe(&mut ws, "1", &json!({})).await;
    app.revoke_token("dashboard").await;
    assert_eq!(close_code(&mut ws).await, 4403);
    // And it cannot come back.
    let mut ws = open(&app).await;
    say(&mut ws, init(&token)).await;
    assert_eq!(close_code(&mut ws).await, 4403);
}
