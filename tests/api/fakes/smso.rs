//! A fake SMSO.ro API v1 (smso.md §9): `POST /api/v1/send` (form, `X-Authorization`),
//! `GET /api/v1/status?responseToken=` (no auth, `data`-wrapped answer),
//! `GET /api/v1/credit-check`.

use super::{serve, Journal, Recorded};
use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Router,
};
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

pub const KEY: &str = "smso-test-key-1234";
pub const SENDER: &str = "4";
pub const TOKEN: &str = "8a5d2f89-90a1-4b65-b2cb-ffb78c4f65aa";

/// How the fake answers the next sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    /// 402: not enough credit.
    NoCredit,
    /// 409 with `Retry-After: 2`: SMSO's throttling.
    Throttled,
    /// One 500, then `Ok`: a retry is certain to find the provider back, however soon it comes.
    Status500Once,
    /// Answers after the client's timeout.
    Stall,
    Malformed,
}

#[derive(Clone)]
pub struct FakeSmso {
    pub addr: SocketAddr,
    pub journal: Journal,
    mode: Arc<Mutex<Mode>>,
    status: Arc<Mutex<&'static str>>,
    /// How long a status answer takes, and how many were being answered at once at most.
    status_delay: Arc<Mutex<Duration>>,
    status_in_flight: Arc<AtomicUsize>,
    pub status_max_in_flight: Arc<AtomicUsize>,
}

impl FakeSmso {
    pub async fn start() -> Self {
        let mut fake = FakeSmso {
            addr: "127.0.0.1:0".parse().unwrap(),
            journal: Journal::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            status: Arc::new(Mutex::new("sent")),
            status_delay: Arc::new(Mutex::new(Duration::ZERO)),
            status_in_flight: Arc::new(AtomicUsize::new(0)),
            status_max_in_flight: Arc::new(AtomicUsize::new(0)),
        };
        let router = Router::new()
            .route("/api/v1/send", post(send))
            .route("/api/v1/status", any(status))
            .route("/api/v1/credit-check", any(credit))
            .with_state(fake.clone());
        fake.addr = serve(router).await;
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1/", self.addr)
    }

    /// This fake as smsgate's default provider `smso`, with the fake's key and sender.
    pub fn provider(&self, settings: serde_json::Value) -> super::Provider {
        super::Provider {
            slug: "smso",
            kind: smsgate_actors::domain::ProviderKind::Smso,
            base_url: self.base_url(),
            sender: SENDER,
            credentials: json!({ "apiKey": KEY }),
            settings,
            priority: 0,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// What `/status` says from now on (`sent`, `delivered`, ...).
    pub fn set_status(&self, status: &'static str) {
        *self.status.lock().unwrap() = status;
    }

    /// Makes each status answer take `delay`, so overlapping checks would be seen.
    pub fn set_status_delay(&self, delay: Duration) {
        *self.status_delay.lock().unwrap() = delay;
    }

    fn record(&self, method: Method, uri: &axum::http::Uri, headers: HeaderMap, body: Bytes) {
        self.journal.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
            body,
            at: std::time::Instant::now(),
        });
    }
}

async fn send(
    State(fake): State<FakeSmso>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(method, &uri, headers.clone(), body.clone());
    if headers.get("x-authorization").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"status": 401, "message": "Unauthenticated."})),
        )
            .into_response();
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(to), Some(sender), Some(_)) = (get("to"), get("sender"), get("body")) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": 400, "errors": {"to": ["required"]}})),
        )
            .into_response();
    };
    if sender != SENDER {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": 400, "errors": {"sender": ["invalid sender"]}})),
        )
            .into_response();
    }
    // A number the fake treats as invalid.
    if to.ends_with("000000") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": 400, "errors": {"to": ["invalid number"]}})),
        )
            .into_response();
    }
    let mode = *fake.mode.lock().unwrap();
    match mode {
        Mode::Ok => {
            axum::Json(json!({"status": 200, "responseToken": TOKEN, "transaction_cost": 3.5}))
                .into_response()
        }
        Mode::NoCredit => (
            StatusCode::PAYMENT_REQUIRED,
            axum::Json(json!({"status": 402, "message": "Not enough credit"})),
        )
            .into_response(),
        Mode::Throttled => (
            StatusCode::CONFLICT,
            [("retry-after", "2")],
            axum::Json(json!({"status": 409})),
        )
            .into_response(),
        Mode::Status500Once => {
            *fake.mode.lock().unwrap() = Mode::Ok;
            (StatusCode::INTERNAL_SERVER_ERROR, "Server Error").into_response()
        }
        Mode::Stall => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            axum::Json(json!({"status": 200, "responseToken": TOKEN})).into_response()
        }
        Mode::Malformed => (StatusCode::OK, "{\"status\": 200, \"responseTok").into_response(),
    }
}

async fn status(
    State(fake): State<FakeSmso>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(method, &uri, headers, body);
    let now = fake.status_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.status_max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *fake.status_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    fake.status_in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = *fake.status.lock().unwrap();
    let delivered = (status == "delivered").then_some("2024-05-01 12:30:15");
    axum::Json(json!({
        "status": 200,
        "data": {
            "status": status,
            "sent_at": "2024-05-01 12:30:09",
            "delivered_at": delivered,
            "receiver": {"number": "+40722334455", "mcc": "226", "mnc": "10"}
        }
    }))
    .into_response()
}

async fn credit(
    State(fake): State<FakeSmso>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(method, &uri, headers.clone(), body);
    if headers.get("x-authorization").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"status": 401}))).into_response();
    }
    axum::Json(json!({"status": 200, "credit_value": 4847.72})).into_response()
}
