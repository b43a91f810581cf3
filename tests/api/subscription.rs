//! `messageUpdates` over a real WebSocket speaking graphql-transport-ws.

use crate::helpers::{spawn_app, TestApp, ADMIN};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message as Ws},
    MaybeTlsStream, WebSocketStream,
};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens /graphql/ws and completes connection_init with `token`; panics without an ack.
pub async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut ws = open(app).await;
    ws.send(Ws::text(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})
            .to_string(),
    ))
    .await
    .unwrap();
    let ack = next_json(&mut ws)
        .await
        .expect("an answer to connection_init");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

pub async fn open(app: &TestApp) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", app.public)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws
}

/// The next JSON frame, or None when the server closed the connection.
pub async fn next_json(ws: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")?;
        match frame.ok()? {
            Ws::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Ws::Close(_) => return None,
            _ => continue,
        }
    }
}

pub async fn subscribe(ws: &mut Socket, id: &str, filter: &Value) {
    ws.send(Ws::text(
        json!({
            "id": id,
            "type": "subscribe",
            "payload": {
                "query": "subscription($f: MessageUpdatesFilter) { messageUpdates(filter: $f) { id status provider events { status } } }",
                "variables": { "f": filter }
            }
        })
        .to_string(),
    ))
    .await
    .unwrap();
}

/// Subscribes with `filter` and collects statuses until a message has been through `until` (or
/// the stream completes). A followed message's first frame is its stored state with its whole
/// history, so a status it passed before the subscription started still counts.
pub async fn follow(ws: &mut Socket, filter: &Value, until: &str) -> Vec<String> {
    subscribe(ws, "1", filter).await;
    let mut seen = Vec::new();
    while let Some(frame) = next_json(ws).await {
        match frame["type"].as_str() {
            Some("next") => {
                assert!(frame["payload"]["errors"].is_null(), "{frame}");
                let update = &frame["payload"]["data"]["messageUpdates"];
                let status = update["status"].as_str().unwrap().to_owned();
                let done = status == until
                    || update["events"]
                        .as_array()
                        .is_some_and(|events| events.iter().any(|e| e["status"] == until));
                seen.push(status);
                if done {
                    break;
                }
            }
            Some("complete") => break,
            Some("error") => panic!("subscription error: {frame}"),
            _ => {}
        }
    }
    seen
}

#[tokio::test]
async fn a_subscriber_receives_queued_sending_sent_delivered_in_order() {
    let app = spawn_app().await;
    let mut ws = connect(&app, ADMIN).await;
    subscribe(&mut ws, "s1", &json!({ "to": "+40755999001" })).await;
    let sent = app
        .send_sms(json!({ "to": "0755999001", "body": "Codul tau este 4711" }))
        .await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let frame = next_json(&mut ws).await.expect("stream open");
        if frame["type"] == "next" {
            let update = &frame["payload"]["data"]["messageUpdates"];
            assert_eq!(update["id"], sent["id"]);
            seen.push(update["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["QUEUED", "SENDING", "SENT", "DELIVERED"]);
}

#[tokio::test]
async fn following_one_message_starts_with_its_stored_state_and_completes_when_final() {
    let app = spawn_app().await;
    let sent = app
        .send_sms(json!({ "to": "0755999002", "body": "hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "DELIVERED").await;
    // Already final: the stored state, then complete.
    let mut ws = connect(&app, ADMIN).await;
    subscribe(&mut ws, "again", &json!({ "id": id })).await;
    let first = next_json(&mut ws).await.unwrap();
    assert_eq!(
        first["payload"]["data"]["messageUpdates"]["status"],
        "DELIVERED"
    );
    let end = next_json(&mut ws).await.unwrap();
    assert_eq!(end["type"], "complete", "{end}");
}

#[tokio::test]
async fn a_websocket_without_a_valid_token_is_refused() {
    let app = spawn_app().await;
    let mut ws = open(&app).await;
    ws.send(Ws::text(
        json!({"type": "connection_init", "payload": {"Authorization": "Bearer wrong"}})
            .to_string(),
    ))
    .await
    .unwrap();
    // The server closes instead of acknowledging.
    match next_json(&mut ws).await {
        None => {}
        Some(frame) => assert_ne!(frame["type"], "connection_ack", "{frame}"),
    }
}
