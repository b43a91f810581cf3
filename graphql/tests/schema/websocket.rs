//! The graphql-transport-ws protocol over `async_graphql::http::WebSocket` with our
//! `caller_from_init`, as the HTTP layer serves it: the token comes in `connection_init`.

use crate::helpers::*;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use futures::{channel::mpsc, SinkExt, Stream};
use serde_json::{json, Value};
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::domain::{Caller, Role};
use smsgate_graphql::{caller_from_init, SmsSchema};

const ADMIN_TOKEN: &str = "admin-token";

fn verify(token: &str) -> Option<Caller> {
    (token == ADMIN_TOKEN).then(|| caller(Role::Admin))
}

/// A server-side connection and the client's sending half.
fn connect(
    schema: SmsSchema,
) -> (
    mpsc::UnboundedSender<String>,
    impl Stream<Item = WsMessage> + Unpin,
) {
    let (tx, rx) = mpsc::unbounded::<String>();
    let socket = WebSocket::new(schema, rx, WebSocketProtocols::GraphQLWS)
        .on_connection_init(|payload| async move { caller_from_init(&payload, verify) });
    (tx, Box::pin(socket))
}

async fn say(tx: &mut mpsc::UnboundedSender<String>, message: Value) {
    tx.send(message.to_string()).await.unwrap();
}

async fn hear_text(socket: &mut (impl Stream<Item = WsMessage> + Unpin)) -> Value {
    match next(socket).await.expect("the connection closed") {
        WsMessage::Text(text) => serde_json::from_str(&text).unwrap(),
        WsMessage::Close(code, reason) => panic!("closed with {code}: {reason}"),
    }
}

#[tokio::test]
async fn a_connection_without_a_good_token_is_closed() {
    let api = spawn_api().await;
    for payload in [
        None,
        Some(json!({})),
        Some(json!({ "token": "wrong" })),
        Some(json!({ "Authorization": "Bearer wrong" })),
        Some(json!({ "Authorization": ADMIN_TOKEN })),
    ] {
        let (mut tx, mut socket) = connect(api.schema.clone());
        let mut init = json!({ "type": "connection_init" });
        if let Some(payload) = &payload {
            init["payload"] = payload.clone();
        }
        say(&mut tx, init).await;
        match next(&mut socket).await {
            Some(WsMessage::Close(code, reason)) => {
                assert_ne!(code, 1000, "{payload:?}");
                assert!(reason.contains("authentication"), "{payload:?}: {reason}");
            }
            other => panic!("{payload:?}: expected a close, got {other:?}"),
        }
        assert!(next(&mut socket).await.is_none(), "{payload:?}");
    }
}

#[tokio::test]
async fn a_subscription_before_the_handshake_is_refused() {
    let api = spawn_api().await;
    let (mut tx, mut socket) = connect(api.schema.clone());
    say(
        &mut tx,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "subscription { messageUpdates { id } }" } }),
    )
    .await;
    assert!(matches!(
        next(&mut socket).await,
        Some(WsMessage::Close(..))
    ));
}

#[tokio::test]
async fn with_a_good_token_updates_come_as_next_and_end_with_complete() {
    let api = spawn_api().await;
    api.mock().hold();
    let id = api.send(send_input("+40755123456", "hi")).await;
    api.mock().wait_for_calls(1).await;

    for payload in [
        json!({ "token": ADMIN_TOKEN }),
        json!({ "Authorization": format!("Bearer {ADMIN_TOKEN}") }),
    ] {
        let (mut tx, mut socket) = connect(api.schema.clone());
        say(
            &mut tx,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(
            hear_text(&mut socket).await,
            json!({ "type": "connection_ack" })
        );

        say(
            &mut tx,
            json!({
                "type": "subscribe",
                "id": "1",
                "payload": {
                    "query": "subscription U($id: ID!) { messageUpdates(filter: { id: $id }) { id status } }",
                    "variables": { "id": id },
                },
            }),
        )
        .await;
        assert_eq!(
            hear_text(&mut socket).await,
            json!({ "type": "next", "id": "1", "payload": { "data": { "messageUpdates": { "id": id, "status": "SENDING" } } } })
        );
        // Keep the second connection for the live part.
        if payload.get("token").is_some() {
            say(&mut tx, json!({ "type": "complete", "id": "1" })).await;
            assert_eq!(
                hear_text(&mut socket).await,
                json!({ "type": "complete", "id": "1" })
            );
            continue;
        }

        api.mock().release(1);
        let mut statuses = Vec::new();
        loop {
            let message = hear_text(&mut socket).await;
            match message["type"].as_str() {
                Some("next") => statuses.push(
                    message["payload"]["data"]["messageUpdates"]["status"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                Some("complete") => {
                    assert_eq!(message["id"], "1");
                    break;
                }
                _ => panic!("unexpected {message}"),
            }
        }
        assert_eq!(statuses, ["SENT", "DELIVERED"]);
    }
    api.wait_for(&id, MessageStatus::Delivered).await;
}

#[tokio::test]
async fn an_error_in_a_subscription_comes_as_an_error_message_with_its_code() {
    let api = spawn_api().await;
    let (mut tx, mut socket) = connect(api.schema.clone());
    say(
        &mut tx,
        json!({ "type": "connection_init", "payload": { "token": ADMIN_TOKEN } }),
    )
    .await;
    assert_eq!(hear_text(&mut socket).await["type"], "connection_ack");
    say(
        &mut tx,
        json!({
            "type": "subscribe",
            "id": "7",
            "payload": { "query": r#"subscription { messageUpdates(filter: { id: "msg_0192f5a0c0de7000800000000000abcd" }) { id } }"# },
        }),
    )
    .await;
    let message = hear_text(&mut socket).await;
    let errors = match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        Some("next") => message["payload"]["errors"].clone(),
        _ => panic!("unexpected {message}"),
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{message}");
}
