//! The two-instance tests' harness: the fake SMSO, the instances as child processes on one
//! database, the clients, and reading back through GraphQL and `/graphql/ws`.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Router,
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smsgate::{secrets::Keyring, store::MongoStore};
use smsgate_actors::{
    domain::{ProviderConfig, ProviderId, ProviderKind},
    ports::Store,
};
use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message as Ws};

pub const ADMIN: &str = "multi-admin-token-0123456789";
pub const KEY: &str = "smso-multi-key-1234";
/// Short, so the takeover after the kill comes within seconds.
pub const LEASE_MS: u64 = 2_000;
pub const DEADLINE: Duration = Duration::from_secs(120);
pub const FINAL: [&str; 4] = ["DELIVERED", "UNDELIVERED", "FAILED", "EXPIRED"];

/// The test server's URI; None (with a notice) when there is none and this is not CI.
pub fn test_uri(test: &str) -> Option<String> {
    match std::env::var("SMSGATE_TEST_MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "SMSGATE_TEST_MONGODB_URI is not set under CI: {test} must run"
            );
            eprintln!("skipping {test}: SMSGATE_TEST_MONGODB_URI is not set (scripts/test starts a server)");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake SMSO (smso.md §9): counts sends by body; status polls answer "delivered".
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Fake {
    pub sends: Arc<Mutex<HashMap<String, usize>>>,
    pub next_token: Arc<AtomicUsize>,
}

pub async fn fake_send(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-authorization").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"status": 401}))).into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let Some(text) = form.get("body") else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": 400}))).into_response();
    };
    *fake.sends.lock().unwrap().entry(text.clone()).or_default() += 1;
    let token = fake.next_token.fetch_add(1, Ordering::Relaxed);
    axum::Json(
        json!({"status": 200, "responseToken": format!("tok-{token}"), "transaction_cost": 3.5}),
    )
    .into_response()
}

pub async fn fake_status() -> Response {
    axum::Json(json!({
        "status": 200,
        "data": {"status": "delivered", "sent_at": "2024-05-01 12:30:09",
                 "delivered_at": "2024-05-01 12:30:15"}
    }))
    .into_response()
}

pub async fn fake_credit() -> Response {
    axum::Json(json!({"status": 200, "credit_value": 1_000_000.0})).into_response()
}

pub async fn start_fake() -> (Fake, SocketAddr) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/api/v1/send", post(fake_send))
        .route("/api/v1/status", any(fake_status))
        .route("/api/v1/credit-check", any(fake_credit))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (fake, addr)
}

pub fn smso(slug: &str, is_default: bool, fake: SocketAddr, keyring: &Keyring) -> ProviderConfig {
    let now = chrono::Utc::now();
    ProviderConfig {
        id: ProviderId::generate(),
        name: slug.to_uppercase(),
        slug: slug.into(),
        kind: ProviderKind::Smso,
        is_active: true,
        is_default,
        priority: if is_default { 0 } else { 1 },
        features: vec!["sms".into()],
        sender_id: Some("4".into()),
        api_base_url: Some(format!("http://{fake}/api/v1/")),
        credentials: Some(keyring.seal(&json!({ "apiKey": KEY }))),
        api_key_hint: Some("****1234".into()),
        settings: json!({ "status_poll_initial_ms": 100, "max_concurrency": 16 }),
        created_at: now,
        updated_at: now,
    }
}

// ---------------------------------------------------------------------------------------------
// The instances, as child processes on one database.
// ---------------------------------------------------------------------------------------------

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Database {
    pub uri: String,
    pub name: String,
    pub key: String,
}

pub fn start_server(db: &Database, instance: &str, dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .arg("serve")
        .env("SMSGATE_LISTEN", "127.0.0.1:0")
        .env("SMSGATE_INTERNAL_LISTEN", "127.0.0.1:0")
        .env("SMSGATE_DATA_DIR", dir)
        .env("SMSGATE_MONGODB_URI", &db.uri)
        .env("SMSGATE_MONGODB_DATABASE", &db.name)
        .env("SMSGATE_INSTANCE_ID", instance)
        .env("SMSGATE_LEASE_MS", LEASE_MS.to_string())
        .env("SMSGATE_ADMIN_TOKEN", ADMIN)
        .env("SMSGATE_SERVICE_TOKEN", "multi-service-token-0123456789")
        .env("SMSGATE_MODE", "dev")
        .env("SMSGATE_ENCRYPTION_KEYS", &db.key)
        .env("SMSGATE_RATE_LIMIT_PER_SECOND", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("smsgate starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let name = instance.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("smsgate listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
            } else if std::env::var_os("TEST_LOG").is_some() {
                println!("[smsgate {name}] {line}");
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("smsgate printed its banner");
    Server { child, url }
}

/// A fresh database with two SMSO providers ("smso" the default, "smso2"), both on the fake.
pub async fn prepare(test: &str, fake: SocketAddr) -> Option<(Database, ProviderConfig)> {
    let uri = test_uri(test)?;
    let name = format!("smsgate_multi_{}", uuid::Uuid::new_v4().simple());
    let key = Keyring::generate_key();
    let keyring = Keyring::new([key.as_str()]).unwrap();
    let store = MongoStore::connect(&uri, &name).await.unwrap();
    store
        .insert_provider(&smso("smso", true, fake, &keyring))
        .await
        .unwrap();
    let second = smso("smso2", false, fake, &keyring);
    store.insert_provider(&second).await.unwrap();
    Some((Database { uri, name, key }, second))
}

pub async fn drop_database(db: &Database) {
    let store = MongoStore::connect(&db.uri, &db.name).await.unwrap();
    store.database().drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------------------------

pub const SEND: &str =
    "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }";
pub const LIST: &str = "query($after: String) { messages(first: 100, after: $after) { edges { node { id body status error { kind } } } pageInfo { hasNextPage endCursor } } }";

pub fn body_of(i: usize) -> String {
    format!("multi test message {i}")
}

pub async fn graphql(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    let answer: Value = client
        .post(format!("{url}/graphql"))
        .bearer_auth(ADMIN)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    answer
}

/// `Some(id)` when acknowledged; `None` when there was no answer or a retryable refusal.
pub async fn send_once(client: &reqwest::Client, url: &str, i: usize) -> Option<String> {
    let input = json!({
        "to": format!("+40722{:06}", 100_000 + i),
        "body": body_of(i),
        "idempotencyKey": format!("multi-{i}"),
    });
    let answer: Value = client
        .post(format!("{url}/graphql"))
        .bearer_auth(ADMIN)
        .json(&json!({ "query": SEND, "variables": { "input": input } }))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    if let Some(errors) = answer.get("errors") {
        let code = errors[0]["extensions"]["code"].as_str().unwrap_or_default();
        assert_eq!(code, "UNAVAILABLE", "only a retryable refusal: {answer}");
        return None;
    }
    answer["data"]["sendSms"]["message"]["id"]
        .as_str()
        .map(str::to_owned)
}

/// Sends messages taken from `next` through the instance `url` names, retrying with the same
/// key through whatever `url` names next when there is no answer.
pub async fn client_loop(
    next: Arc<AtomicUsize>,
    total: usize,
    acked: Arc<Mutex<HashMap<usize, String>>>,
    mut url: watch::Receiver<String>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return;
        }
        loop {
            let target = url.borrow_and_update().clone();
            if let Some(id) = send_once(&client, &target, i).await {
                acked.lock().unwrap().insert(i, id);
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), url.changed()).await;
        }
    }
}

/// How long after `since` the first FAILED message shows on `url` (None when none does within
/// the deadline): here only an interrupted send, taken over from the killed instance, fails.
pub async fn first_interrupted(url: String, since: Instant) -> Option<Duration> {
    let client = reqwest::Client::new();
    while since.elapsed() < DEADLINE {
        let answer = graphql(
            &client,
            &url,
            "{ messages(filter: {status: FAILED}, first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
        if !answer["data"]["messages"]["edges"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[derive(Debug)]
pub struct Stored {
    pub id: String,
    pub body: String,
    pub status: String,
    pub error: Option<String>,
}

pub async fn all_messages(client: &reqwest::Client, url: &str) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let answer = graphql(client, url, LIST, json!({ "after": after })).await;
        let page = &answer["data"]["messages"];
        for edge in page["edges"].as_array().unwrap() {
            let node = &edge["node"];
            out.push(Stored {
                id: node["id"].as_str().unwrap().to_owned(),
                body: node["body"].as_str().unwrap().to_owned(),
                status: node["status"].as_str().unwrap().to_owned(),
                error: node["error"]["kind"].as_str().map(str::to_owned),
            });
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens /graphql/ws on `url`, authenticated, and subscribes to `to`'s messages.
pub async fn subscribe(url: &str, to: &str) -> Socket {
    let mut request = format!("{}/graphql/ws", url.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {ADMIN}")}});
    ws.send(Ws::text(init.to_string())).await.unwrap();
    let ack = next_frame(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": {
            "query": "subscription($f: MessageUpdatesFilter) { messageUpdates(filter: $f) { id status } }",
            "variables": { "f": { "to": to } }
        }
    });
    ws.send(Ws::text(subscribe.to_string())).await.unwrap();
    ws
}

pub async fn next_frame(ws: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .unwrap();
        if let Ws::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}
