//! The two-instance tests' harness: the fake SMSO, the instances as child processes on one
//! database, the clients, and reading back through GraphQL and `/graphql/ws`.

pub use crate::binary::{Caller, Server};
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
    net::SocketAddr,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message as Ws};

pub const ADMIN: &str = "multi-admin-token-0123456789";
pub const CALLER: Caller = Caller {
    token: ADMIN,
    name: "multi",
};
pub const KEY: &str = "smso-multi-key-1234";
/// Short, so the takeover after the kill comes within seconds; not so short that a loaded
/// machine, where the in-memory test server answers a renewal in over a second, makes the live
/// instances take each other's messages all the time (each such takeover fails the messages
/// caught SENDING as interrupted).
pub const LEASE_MS: u64 = 4_000;
/// A bound that only a stall reaches: a loaded CI machine takes about a minute for the whole test.
pub const DEADLINE: Duration = Duration::from_secs(240);

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
    /// While set, every send is answered 503 (the provider is down) and not counted.
    pub down: Arc<AtomicBool>,
}

pub async fn fake_send(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-authorization").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"status": 401}))).into_response();
    }
    if fake.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": 503, "message": "down for maintenance"})),
        )
            .into_response();
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
        webhook_secret: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The instances, as child processes on one database.
// ---------------------------------------------------------------------------------------------

pub struct Database {
    pub uri: String,
    pub name: String,
    pub key: String,
}

pub fn start_server(db: &Database, instance: &str, dir: &Path) -> Server {
    start_instance(db, instance, dir, Some(LEASE_MS), &[])
}

/// An instance with `lease_ms` (None: the default lease) and further settings.
pub fn start_instance(
    db: &Database,
    instance: &str,
    dir: &Path,
    lease_ms: Option<u64>,
    settings: &[(&str, String)],
) -> Server {
    let mut env = vec![
        ("SMSGATE_DATA_DIR", dir.display().to_string()),
        ("SMSGATE_MONGODB_URI", db.uri.clone()),
        ("SMSGATE_MONGODB_DATABASE", db.name.clone()),
        ("SMSGATE_INSTANCE_ID", instance.to_owned()),
        ("SMSGATE_ADMIN_TOKEN", ADMIN.to_owned()),
        (
            "SMSGATE_SERVICE_TOKEN",
            "multi-service-token-0123456789".to_owned(),
        ),
        ("SMSGATE_ENCRYPTION_KEYS", db.key.clone()),
    ];
    if let Some(lease_ms) = lease_ms {
        env.push(("SMSGATE_LEASE_MS", lease_ms.to_string()));
    }
    env.extend(settings.iter().cloned());
    crate::binary::start(&format!("smsgate {instance}"), &env)
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
            if let Some(id) = CALLER.send_once(&client, &target, i).await {
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
        let answer = CALLER
            .graphql(
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
