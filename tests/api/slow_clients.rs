//! Clients that hold connections or guess tokens: a connection that sends its headers too
//! slowly is closed, a request whose body does not arrive in time gets a JSON 408, and an
//! address with too many failed authentications is refused (429) for the rest of the minute.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message as Ws;

/// Reads until the server closes the connection; panics if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection in time")
        .ok();
    answer
}

#[tokio::test]
async fn half_a_header_is_cut_off_on_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_HEADER_READ_TIMEOUT_MS", "300")]).await;
    for addr in [app.public, app.internal] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: smsgate\r\nX-Slow: ")
            .await
            .unwrap();
        closed_within(&mut stream, Duration::from_secs(5)).await;
        // Nothing at all, too.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        closed_within(&mut silent, Duration::from_secs(5)).await;
    }
    // A prompt client is served as before.
    let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_a_json_408() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_REQUEST_TIMEOUT_MS", "300")]).await;
    let mut stream = TcpStream::connect(app.public).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: smsgate\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"query\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = closed_within(&mut stream, Duration::from_secs(5)).await;
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn an_address_with_too_many_failed_authentications_is_refused_for_the_minute() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, &[("SMSGATE_AUTH_FAILURES_PER_MINUTE", "3")]).await;
    let get = |token: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/admin/sms/providers"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get(ADMIN).await.status(), 200, "successes do not count");
    for _ in 0..3 {
        assert_eq!(get("guess").await.status(), 401);
    }
    let refused = get(ADMIN).await;
    assert_eq!(refused.status(), 429, "even with a valid token");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // GraphQL, the internal listener and the WebSocket share the allowance: 4 refusals.
    let graphql = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "query": "{ providers { slug } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 429);
    let internal = app
        .client
        .get(app.internal_url("/internal/sms/balance"))
        .bearer_auth(SERVICE)
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), 429);
    let mut ws = crate::subscription::open(&app).await;
    ws.send(Ws::text(
        serde_json::json!({"type": "connection_init", "payload": {"token": ADMIN}}).to_string(),
    ))
    .await
    .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Ws::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 4429),
        other => panic!("expected a 4429 close, got {other:?}"),
    }

    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("smsgate_rate_limited_total{limit=\"auth\"} 4"),
        "{metrics}"
    );
}
