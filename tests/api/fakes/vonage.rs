//! A fake Vonage classic SMS API (vonage.md §1, §3, §6): `POST /sms/json` (form; key and
//! secret as HTTP Basic or as `api_key`/`api_secret` fields) answering HTTP 200 with one
//! `messages[]` entry per part, every value a string, errors as a `status` code inside the 200;
//! `GET /account/get-balance` answering `{"value": <number>, "autoReload": false}`. It can push
//! delivery receipts, signed as Vonage signs them, to the `callback` URL smsgate gave it.

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
use hmac::{Hmac, Mac};
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;

pub const KEY: &str = "vonagekey";
pub const SECRET: &str = "vonage-secret-abcdef";
pub const SIGNATURE_SECRET: &str = "vonage-signature-secret-1234";
pub const FROM: &str = "SMSGate";
/// The id of part `n` (0-based) of the most recent send.
pub fn part_id(n: usize) -> String {
    format!("0a00000{n:011x}")
}

/// How the fake answers the next sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    /// `status: "1"` in a 200: throttled.
    Throttled,
    /// `status: "9"` in a 200: partner quota (no balance).
    NoCredit,
    /// `status: "5"` in a 200: internal error.
    Internal,
    /// HTTP 500 from the gateway in front of the API.
    Status500,
    /// Answers after the client's timeout.
    Stall,
    Malformed,
}

#[derive(Clone)]
pub struct FakeVonage {
    pub addr: SocketAddr,
    pub journal: Journal,
    mode: Arc<Mutex<Mode>>,
    /// While true, send answers wait (the message is taken, the answer is late).
    hold: watch::Sender<bool>,
}

impl FakeVonage {
    pub async fn start() -> Self {
        let (hold, _) = watch::channel(false);
        let mut fake = FakeVonage {
            addr: "127.0.0.1:0".parse().unwrap(),
            journal: Journal::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            hold,
        };
        let router = Router::new()
            .route("/sms/json", any(send))
            .route("/account/get-balance", any(balance))
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

    /// Holds (true) or releases (false) the answers to sends.
    pub fn hold_answers(&self, hold: bool) {
        self.hold.send_replace(hold);
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

fn authorised(headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str())
        || (get("api_key") == Some(KEY) && get("api_secret") == Some(SECRET))
}

/// Parts per encoding.md: GSM-7 160 alone / 153 per part, UCS-2 70 / 67 (UTF-16 units). The
/// GSM extension table (two septets) is not counted double here: the tests do not use it.
fn parts(text: &str, unicode: bool) -> usize {
    let (len, single, multi) = if unicode {
        (text.encode_utf16().count(), 70, 67)
    } else {
        (text.chars().count(), 160, 153)
    };
    if len <= single {
        1
    } else {
        len.div_ceil(multi)
    }
}

fn refused(to: &str, code: &str, text: &str) -> Response {
    axum::Json(json!({
        "message-count": "1",
        "messages": [{ "to": to, "status": code, "error-text": text }]
    }))
    .into_response()
}

async fn send(
    State(fake): State<FakeVonage>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(method, &uri, headers.clone(), body.clone());
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let to = get("to").unwrap_or_default();
    if !authorised(&headers, &form) {
        return refused(&to, "4", "Bad Credentials");
    }
    let (Some(text), Some(_)) = (get("text"), get("from")) else {
        return refused(&to, "2", "Missing from param");
    };
    if to.starts_with('+') || to.len() < 7 || to.ends_with("000000") {
        return refused(&to, "3", "Invalid to address");
    }
    let mut held = fake.hold.subscribe();
    let _ = held.wait_for(|hold| !hold).await;
    let mode = *fake.mode.lock().unwrap();
    match mode {
        Mode::Ok => {}
        Mode::Throttled => return refused(&to, "1", "Throughput Rate Exceeded"),
        Mode::NoCredit => return refused(&to, "9", "Partner quota exceeded"),
        Mode::Internal => return refused(&to, "5", "Internal Error"),
        Mode::Status500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Mode::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
        Mode::Malformed => {
            return (StatusCode::OK, "{\"message-count\": \"1\", \"mess").into_response()
        }
    }
    let count = parts(&text, get("type").as_deref() == Some("unicode"));
    let messages: Vec<_> = (0..count)
        .map(|n| {
            let mut part = json!({
                "to": to, "message-id": part_id(n), "status": "0",
                "remaining-balance": "38.07243628", "message-price": "0.04120000",
                "network": "22610",
            });
            if let Some(r) = get("client-ref") {
                part["client-ref"] = json!(r);
            }
            part
        })
        .collect();
    axum::Json(json!({ "message-count": count.to_string(), "messages": messages })).into_response()
}

async fn balance(
    State(fake): State<FakeVonage>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(method, &uri, headers.clone(), body);
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    if !authorised(&headers, &query) {
        // vonage.md: the account API answers a bad key with a non-200 [I]; shape unconfirmed.
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error-code": "401", "error-code-label": "authentication failed"})),
        )
            .into_response();
    }
    axum::Json(json!({ "value": 29.18202293, "autoReload": false })).into_response()
}

/// Signs DLR params as vonage.md §5 says for `sha256`: every param but `sig`, sorted by key,
/// `&k=v…` with `&` and `=` inside values replaced by `_`, HMAC-SHA256 with the secret, hex.
/// Written here on its own, not borrowed from the adapter, so the two can disagree.
pub fn sign(secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    let data: String = sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A DLR for part `n` as Vonage would push it (field names from vonage.md §2), optionally
/// signed; `timestamp` is now unless given.
pub fn dlr(
    n: usize,
    status: &str,
    client_ref: Option<&str>,
    sign_with: Option<&str>,
    timestamp: Option<i64>,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("msisdn", "40722334455"),
        ("to", FROM),
        ("network-code", "22610"),
        ("messageId", part_id(n).as_str()),
        ("price", "0.04120000"),
        ("status", status),
        ("scts", "2001011400"),
        ("err-code", if status == "delivered" { "0" } else { "1" }),
        ("api-key", KEY),
        ("message-timestamp", "2020-01-01 14:00:00"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(r) = client_ref {
        params.push(("client-ref".into(), r.into()));
    }
    if let Some(secret) = sign_with {
        let ts = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
        params.push(("timestamp".into(), ts.to_string()));
        params.push(("nonce".into(), "a1b2c3".into()));
        let sig = sign(secret, &params);
        params.push(("sig".into(), sig));
    }
    params
}
