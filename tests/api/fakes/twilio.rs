//! A fake Twilio REST API (twilio.md §10): `POST /2010-04-01/Accounts/{sid}/Messages.json`
//! (form, Basic auth) answering 201 with the Message JSON, fetch by SID, list filtered by `To`,
//! `From` and `DateSent>`, `Balance.json`; 401 with code 20003 on bad auth, 400/21211 for a
//! number it calls invalid. A fault switch (`set_mode`, `refuse`/`restore`) makes it misbehave
//! at run time; `taken()` is what it accepted, to prove nothing went out twice.

use super::{Journal, Recorded};
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
    /// 503 with Twilio's JSON error body.
    Status503,
    /// 401/20003 whatever the credentials.
    BadCredentials,
    /// 402: the account cannot pay (the balance reads 0.00 meanwhile).
    NoCredit,
    /// Times out like `Stall`, but the message never reached Twilio (lost on the way).
    Lost,
}

/// One message the fake accepted.
#[derive(Debug, Clone)]
pub struct Taken {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub addr: SocketAddr,
    pub journal: Journal,
    mode: Arc<Mutex<Mode>>,
    taken: Arc<Mutex<Vec<Taken>>>,
    server: Arc<Mutex<Option<super::Running>>>,
    /// The list route says there are more pages than the one it answers.
    list_truncated: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let mut fake = FakeTwilio {
            addr: "127.0.0.1:0".parse().unwrap(),
            journal: Journal::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            taken: Arc::default(),
            server: Arc::default(),
            list_truncated: Arc::default(),
        };
        let running = super::Running::start("127.0.0.1:0".parse().unwrap(), fake.router()).await;
        fake.addr = running.addr;
        *fake.server.lock().unwrap() = Some(running);
        fake
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/2010-04-01/Accounts/{sid}/{*rest}", any(handle))
            .with_state(self.clone())
    }

    /// Stops listening: from now on connections are refused (nothing reaches Twilio).
    pub async fn refuse(&self) {
        let running = self.server.lock().unwrap().take();
        if let Some(running) = running {
            running.stop().await;
        }
    }

    /// Listens again on the same address after `refuse`.
    pub async fn restore(&self) {
        let running = super::Running::start(self.addr, self.router()).await;
        *self.server.lock().unwrap() = Some(running);
    }

    /// From now on the list route answers with a `next_page_uri`, as for a long listing.
    pub fn truncate_lists(&self) {
        self.list_truncated
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The messages the fake accepted (the provider "has" them), in order.
    pub fn taken(&self) -> Vec<Taken> {
        self.taken.lock().unwrap().clone()
    }

    /// How many times the fake accepted a message with this body.
    pub fn taken_with_body(&self, body: &str) -> usize {
        self.taken().iter().filter(|t| t.body == body).count()
    }

    fn take(&self, to: &str, from: &str, body: &str) -> String {
        let mut taken = self.taken.lock().unwrap();
        let sid = if taken.is_empty() {
            MESSAGE_SID.to_owned()
        } else {
            format!("SM{:032x}", taken.len())
        };
        taken.push(Taken {
            sid: sid.clone(),
            to: to.to_owned(),
            from: from.to_owned(),
            body: body.to_owned(),
            at: chrono::Utc::now(),
        });
        sid
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn message(sid: &str, to: &str, body: &str, status: &str) -> serde_json::Value {
    json!({
        "sid": sid, "account_sid": SID, "messaging_service_sid": null,
        "from": FROM, "to": to, "body": body, "status": status,
        "direction": "outbound-api", "num_segments": "1", "num_media": "0",
        "price": if status == "delivered" { json!("-0.00750") } else { json!(null) },
        "price_unit": "USD", "error_code": null, "error_message": null,
        "api_version": "2010-04-01",
        "date_created": "Thu, 30 Jul 2015 20:12:31 +0000", "date_sent": null,
        "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000",
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"),
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
    let mode = *fake.mode.lock().unwrap();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
        || mode == Mode::BadCredentials
    {
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
        return match mode {
            Mode::Ok | Mode::BadCredentials => {
                let sid = fake.take(&to, &get("From"), &get("Body"));
                (
                    StatusCode::CREATED,
                    axum::Json(message(&sid, &to, &get("Body"), "queued")),
                )
                    .into_response()
            }
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
            Mode::Status503 => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"code": 20503, "message": "Service Unavailable", "more_info": "https://www.twilio.com/docs/errors/20503", "status": 503})),
            )
                .into_response(),
            Mode::NoCredit => (
                StatusCode::PAYMENT_REQUIRED,
                axum::Json(json!({"code": 20005, "message": "Account not active", "more_info": "https://www.twilio.com/docs/errors/20005", "status": 402})),
            )
                .into_response(),
            Mode::Stall => {
                // Twilio took it; its answer comes after the client gave up.
                let sid = fake.take(&to, &get("From"), &get("Body"));
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                (StatusCode::CREATED, axum::Json(message(&sid, &to, &get("Body"), "queued"))).into_response()
            }
            Mode::Lost => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                StatusCode::GATEWAY_TIMEOUT.into_response()
            }
            Mode::Malformed => {
                fake.take(&to, &get("From"), &get("Body"));
                (StatusCode::CREATED, "{\"sid\": \"SM01").into_response()
            }
        };
    }
    if method == Method::GET && path.ends_with("/Messages.json") {
        return axum::Json(list(&fake, uri.query().unwrap_or_default())).into_response();
    }
    if method == Method::GET && path.ends_with(&format!("/Messages/{MESSAGE_SID}.json")) {
        return axum::Json(message(MESSAGE_SID, "+40722334455", "Hello", "delivered"))
            .into_response();
    }
    if method == Method::GET {
        let known = fake
            .taken()
            .into_iter()
            .find(|t| path.ends_with(&format!("/Messages/{}.json", t.sid)));
        if let Some(t) = known {
            return axum::Json(message(&t.sid, &t.to, &t.body, "delivered")).into_response();
        }
    }
    if method == Method::GET && path.ends_with("/Balance.json") {
        let balance = if mode == Mode::NoCredit {
            "0.00"
        } else {
            "12.34"
        };
        return axum::Json(json!({"account_sid": SID, "balance": balance, "currency": "USD"}))
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": 20404, "message": "not found", "status": 404})),
    )
        .into_response()
}

/// The list route (twilio.md §4): filtered by `To`, `From` and `DateSent>` (a day), newest
/// first, one page.
fn list(fake: &FakeTwilio, query: &str) -> serde_json::Value {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let after =
        get("DateSent>").and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let messages: Vec<serde_json::Value> = fake
        .taken()
        .iter()
        .rev()
        .filter(|t| get("To").is_none_or(|to| to == t.to))
        .filter(|t| get("From").is_none_or(|from| from == t.from))
        .filter(|t| after.is_none_or(|day| t.at.date_naive() >= day))
        .map(|t| {
            let mut m = message(&t.sid, &t.to, &t.body, "sent");
            m["date_created"] = json!(t.at.to_rfc2822());
            m
        })
        .collect();
    json!({
        "messages": messages, "page": 0, "page_size": 50,
        "next_page_uri": fake
            .list_truncated
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| format!("/2010-04-01/Accounts/{SID}/Messages.json?PageSize=50&Page=1")),
        "first_page_uri": format!("/2010-04-01/Accounts/{SID}/Messages.json?PageSize=50&Page=0"),
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages.json"),
    })
}
