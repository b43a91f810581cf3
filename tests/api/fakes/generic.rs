//! A fake of "some other SMS API" for the generic HTTP provider: exactly the shape its settings
//! in `settings()` describe. `POST /v1/sms` with `Authorization: Bearer <key>` and a JSON body
//! `{"to", "text", "from", "ref"}`; answers `{"data": {"id": ...}, "error": null}`, an error
//! inside a 200 for a number it refuses, 401 for a bad key, 429 with `Retry-After`, 503.

use super::{serve, Journal, Recorded};
use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use serde_json::{json, Value};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

pub const KEY: &str = "generic-key-0987654321";
pub const ID: &str = "gen-000042";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    /// 429 with `Retry-After: 1`.
    Throttled,
    Status503,
    Malformed,
}

#[derive(Clone)]
pub struct FakeGeneric {
    pub addr: SocketAddr,
    pub journal: Journal,
    mode: Arc<Mutex<Mode>>,
}

impl FakeGeneric {
    pub async fn start() -> Self {
        let mut fake = FakeGeneric {
            addr: "127.0.0.1:0".parse().unwrap(),
            journal: Journal::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
        };
        let router = Router::new()
            .route("/{*path}", any(handle))
            .with_state(fake.clone());
        fake.addr = serve(router).await;
        fake
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The generic provider's settings that describe this API.
    pub fn settings(&self) -> Value {
        json!({
            "url": format!("http://{}/v1/sms", self.addr),
            "method": "POST",
            "headers": { "Authorization": "Bearer {credentials.apiKey}" },
            "body_template": r#"{"to":"{to}","text":"{body}","from":"{sender}","ref":"{message_id}"}"#,
            "content_type": "application/json",
            "message_id_pointer": "/data/id",
            "error_pointer": "/error",
            "transient_statuses": [429, 503],
        })
    }
}

async fn handle(
    State(fake): State<FakeGeneric>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.journal.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        body: body.clone(),
        at: std::time::Instant::now(),
    });
    if method != Method::POST || uri.path() != "/v1/sms" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no route"})),
        )
            .into_response();
    }
    let bearer = format!("Bearer {KEY}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(bearer.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "bad key"})),
        )
            .into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "not JSON"})),
        )
            .into_response();
    };
    if request["to"]
        .as_str()
        .is_none_or(|to| to.ends_with("000000"))
    {
        return axum::Json(json!({"data": null, "error": "invalid destination"})).into_response();
    }
    let mode = *fake.mode.lock().unwrap();
    match mode {
        Mode::Ok => axum::Json(json!({"data": {"id": ID}, "error": null})).into_response(),
        Mode::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": "slow down"})),
        )
            .into_response(),
        Mode::Status503 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        Mode::Malformed => (StatusCode::OK, "<html>oops").into_response(),
    }
}
