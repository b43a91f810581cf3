//! A fake Twilio REST API (twilio.md §10): `POST /2010-04-01/Accounts/{sid}/Messages.json`
//! (form, Basic auth) answering 201 with the Message JSON, fetch by SID, `Balance.json`; 401
//! with code 20003 on bad auth, 400/21211 for a number it calls invalid.

use super::{serve, Journal, Recorded};
use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use base64::Engine as _;
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "twilio-auth-token-5678";
pub const FROM: &str = "+14155552345";
pub const MESSAGE_SID: &str = "SM0123456789abcdef0123456789abcdef";

/// How the fake answers the next creates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    /// 429 with code 20429 and `Retry-After: 1`.
    TooMany,
    /// 500 with Twilio's JSON error body.
    Status500,
    /// Answers after the client's timeout.
    Stall,
    /// A 201 whose body is cut short.
    Malformed,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub addr: SocketAddr,
    pub journal: Journal,
    mode: Arc<Mutex<Mode>>,
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let mut fake = FakeTwilio {
            addr: "127.0.0.1:0".parse().unwrap(),
            journal: Journal::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
        };
        let router = Router::new()
            .route("/2010-04-01/Accounts/{sid}/{*rest}", any(handle))
            .with_state(fake.clone());
        fake.addr = serve(router).await;
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn message(to: &str, body: &str, status: &str) -> serde_json::Value {
    json!({
        "sid": MESSAGE_SID, "account_sid": SID, "messaging_service_sid": null,
        "from": FROM, "to": to, "body": body, "status": status,
        "direction": "outbound-api", "num_segments": "1", "num_media": "0",
        "price": if status == "delivered" { json!("-0.00750") } else { json!(null) },
        "price_unit": "USD", "error_code": null, "error_message": null,
        "api_version": "2010-04-01",
        "date_created": "Thu, 30 Jul 2015 20:12:31 +0000", "date_sent": null,
        "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000",
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{MESSAGE_SID}.json"),
    })
}

async fn handle(
    State(fake): State<FakeTwilio>,
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
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}))).into_response();
    }
    let path = uri.path();
    if method == Method::POST && path.ends_with("/Messages.json") {
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let to = get("To");
        if !to.starts_with('+') || to.ends_with("000000") {
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"code": 21211, "message": format!("The 'To' number {to} is not a valid phone number."), "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}))).into_response();
        }
        let mode = *fake.mode.lock().unwrap();
        return match mode {
            Mode::Ok => (
                StatusCode::CREATED,
                axum::Json(message(&to, &get("Body"), "queued")),
            )
                .into_response(),
            Mode::TooMany => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429})),
            )
                .into_response(),
            Mode::Status500 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500})),
            )
                .into_response(),
            Mode::Stall => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                (StatusCode::CREATED, axum::Json(message(&to, &get("Body"), "queued"))).into_response()
            }
            Mode::Malformed => (StatusCode::CREATED, "{\"sid\": \"SM01").into_response(),
        };
    }
    if method == Method::GET && path.ends_with(&format!("/Messages/{MESSAGE_SID}.json")) {
        return axum::Json(message("+40722334455", "Hello", "delivered")).into_response();
    }
    if method == Method::GET && path.ends_with("/Balance.json") {
        return axum::Json(json!({"account_sid": SID, "balance": "12.34", "currency": "USD"}))
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": 20404, "message": "not found", "status": 404})),
    )
        .into_response()
}
