//! Two `smsgate serve` processes on one MongoDB database (issue 7), against a fake SMSO on
//! loopback that counts every send by its body. Concurrent clients send 1,000 messages through
//! both instances with idempotency keys; instance A is killed with SIGKILL half-way and its
//! clients carry on through B with the same keys.
//!
//! Checks: every acknowledged message reaches a final state (B takes A's over when their leases
//! run out); the fake received each message at most once (those SENDING at the kill end
//! FAILED/INTERRUPTED and are listed); the statistics add up. A second test: a provider
//! activated through one instance is the default on the other, and a `messageUpdates`
//! subscriber on one instance sees a message sent and delivered through the other.
//!
//! Needs `SMSGATE_TEST_MONGODB_URI` (scripts/test starts SecantusDB); without it the tests say
//! so and pass, except under CI, where that is a failure. `SMSGATE_MULTI_MESSAGES` sets the
//! number of messages (default 1,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    collections::{BTreeMap, HashMap},
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

const ADMIN: &str = "multi-admin-token-0123456789";
const KEY: &str = "smso-multi-key-1234";
/// Short, so the takeover after the kill comes within seconds.
const LEASE_MS: u64 = 2_000;
const DEADLINE: Duration = Duration::from_secs(120);
const FINAL: [&str; 4] = ["DELIVERED", "UNDELIVERED", "FAILED", "EXPIRED"];

/// The test server's URI; None (with a notice) when there is none and this is not CI.
fn test_uri(test: &str) -> Option<String> {
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
struct Fake {
    sends: Arc<Mutex<HashMap<String, usize>>>,
    next_token: Arc<AtomicUsize>,
}

async fn fake_send(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
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

async fn fake_status() -> Response {
    axum::Json(json!({
        "status": 200,
        "data": {"status": "delivered", "sent_at": "2024-05-01 12:30:09",
                 "delivered_at": "2024-05-01 12:30:15"}
    }))
    .into_response()
}

async fn fake_credit() -> Response {
    axum::Json(json!({"status": 200, "credit_value": 1_000_000.0})).into_response()
}

async fn start_fake() -> (Fake, SocketAddr) {
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

fn smso(slug: &str, is_default: bool, fake: SocketAddr, keyring: &Keyring) -> ProviderConfig {
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

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Database {
    uri: String,
    name: String,
    key: String,
}

fn start_server(db: &Database, instance: &str, dir: &Path) -> Server {
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
async fn prepare(test: &str, fake: SocketAddr) -> Option<(Database, ProviderConfig)> {
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

async fn drop_database(db: &Database) {
    let store = MongoStore::connect(&db.uri, &db.name).await.unwrap();
    store.database().drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------------------------

const SEND: &str = "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }";
const LIST: &str = "query($after: String) { messages(first: 100, after: $after) { edges { node { id body status error { kind } } } pageInfo { hasNextPage endCursor } } }";

fn body_of(i: usize) -> String {
    format!("multi test message {i}")
}

async fn graphql(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
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
async fn send_once(client: &reqwest::Client, url: &str, i: usize) -> Option<String> {
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
async fn client_loop(
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
async fn first_interrupted(url: String, since: Instant) -> Option<Duration> {
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
struct Stored {
    id: String,
    body: String,
    status: String,
    error: Option<String>,
}

async fn all_messages(client: &reqwest::Client, url: &str) -> Vec<Stored> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_one_takes_over_when_the_other_is_killed() {
    let started = Instant::now();
    let total: usize = std::env::var("SMSGATE_MULTI_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let clients = 10;
    let (fake, fake_addr) = start_fake().await;
    let Some((db, _)) = prepare("the two-instance test", fake_addr).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_server(&db, "a", dir_a.path());
    let b = start_server(&db, "b", dir_b.path());
    let (to_a, via_a) = watch::channel(a.url.clone());
    let (_to_b, via_b) = watch::channel(b.url.clone());

    // Half the clients talk to A, half to B.
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let url = if k % 2 == 0 {
                via_a.clone()
            } else {
                via_b.clone()
            };
            tokio::spawn(client_loop(next.clone(), total, acked.clone(), url))
        })
        .collect();

    // SIGKILL A once half the messages were acknowledged; its clients go on through B.
    while acked.lock().unwrap().len() < total / 2 {
        assert!(
            started.elapsed() < DEADLINE,
            "the first half was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed_at = Instant::now();
    let sends_before_kill: usize = fake.sends.lock().unwrap().values().sum();
    to_a.send(b.url.clone()).unwrap();
    // The takeover shows first as a message A was sending, failed by B as interrupted.
    let first_takeover = tokio::spawn(first_interrupted(b.url.clone(), killed_at));
    for task in tasks {
        tokio::time::timeout(DEADLINE.saturating_sub(started.elapsed()), task)
            .await
            .expect("the clients finish in time")
            .unwrap();
    }
    let all_acked_at = killed_at.elapsed();

    // Every message reaches a final state: B took A's over when their leases ran out.
    let client = reqwest::Client::new();
    let messages = loop {
        let messages = all_messages(&client, &b.url).await;
        let open = messages
            .iter()
            .filter(|m| !FINAL.contains(&m.status.as_str()))
            .count();
        if open == 0 {
            break messages;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{open} messages are still not final"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let all_final = killed_at.elapsed();
    let takeover = tokio::time::timeout(Duration::from_secs(5), first_takeover)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();

    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), total, "every request was answered in the end");
    assert_eq!(messages.len(), total, "one message per key, no strays");
    let by_id: HashMap<&str, &Stored> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    for (i, id) in &acked {
        let stored = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged message {id} (key multi-{i}) was lost"));
        assert_eq!(
            stored.body,
            body_of(*i),
            "key multi-{i} answered another message"
        );
    }

    let sends = fake.sends.lock().unwrap().clone();
    let duplicates: BTreeMap<&String, &usize> = sends.iter().filter(|(_, n)| **n > 1).collect();
    let count = |status: &str| messages.iter().filter(|m| m.status == status).count();
    let (delivered, failed) = (count("DELIVERED"), count("FAILED"));
    let (undelivered, expired) = (count("UNDELIVERED"), count("EXPIRED"));
    let interrupted: Vec<&Stored> = messages
        .iter()
        .filter(|m| m.error.as_deref() == Some("INTERRUPTED"))
        .collect();

    println!("two-instance test: {total} messages from {clients} clients through 2 instances, lease {LEASE_MS} ms");
    println!("  provider sends before the kill of A:   {sends_before_kill}");
    println!("  all acknowledged, after the kill:      {all_acked_at:.1?}");
    match takeover {
        Some(after) => println!("  first message taken over, after kill:  {after:.1?}"),
        None => println!("  first message taken over, after kill:  none was SENDING at the kill"),
    }
    println!("  all final, after the kill:             {all_final:.1?}");
    println!("  delivered:                             {delivered}");
    println!("  failed:                                {failed}");
    println!("  undelivered / expired:                 {undelivered} / {expired}");
    println!(
        "  interrupted (ambiguous):               {}",
        interrupted.len()
    );
    for m in &interrupted {
        println!(
            "    {} {:?}: the fake received it {} time(s); not resent",
            m.id,
            m.body,
            sends.get(&m.body).copied().unwrap_or(0)
        );
    }
    println!(
        "  provider sends in all:                 {}",
        sends.values().sum::<usize>()
    );
    println!(
        "  duplicates at the fake:                {}",
        duplicates.len()
    );

    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    assert_eq!(failed, interrupted.len(), "only interrupted sends fail");
    assert_eq!(undelivered + expired, 0);
    for m in messages.iter().filter(|m| m.status == "DELIVERED") {
        assert_eq!(sends.get(&m.body), Some(&1), "{} was delivered", m.id);
    }

    let today = chrono::Utc::now().date_naive();
    let stats = graphql(
        &client,
        &b.url,
        "query($from: Date!, $to: Date!) { statistics(from: $from, to: $to) { sentCount deliveredCount failedCount } }",
        json!({
            "from": (today - chrono::Days::new(1)).to_string(),
            "to": (today + chrono::Days::new(1)).to_string(),
        }),
    )
    .await;
    let sum = |field: &str| -> i64 {
        stats["data"]["statistics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[field].as_i64().unwrap())
            .sum()
    };
    let figures = (sum("sentCount"), sum("deliveredCount"), sum("failedCount"));
    println!(
        "  statistics sent/delivered/failed:      {}/{}/{}",
        figures.0, figures.1, figures.2
    );
    println!("  took {:.1?}", started.elapsed());
    let expected = (
        i64::try_from(delivered + undelivered).unwrap(),
        i64::try_from(delivered).unwrap(),
        i64::try_from(failed + undelivered + expired).unwrap(),
    );
    assert_eq!(figures, expected, "statistics (sent, delivered, failed)");
    drop((a, b));
    drop_database(&db).await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens /graphql/ws on `url`, authenticated, and subscribes to `to`'s messages.
async fn subscribe(url: &str, to: &str) -> Socket {
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

async fn next_frame(ws: &mut Socket) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_and_live_updates_are_shared_between_instances() {
    let (_fake, fake_addr) = start_fake().await;
    let Some((db, second)) = prepare("the shared default and updates test", fake_addr).await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_server(&db, "a", dir_a.path());
    let b = start_server(&db, "b", dir_b.path());
    let client = reqwest::Client::new();

    // Activated through A: B names it the default within seconds.
    let activated = Instant::now();
    graphql(
        &client,
        &a.url,
        "mutation($id: ID!) { activateProvider(id: $id) { slug isDefault } }",
        json!({ "id": second.id.as_str() }),
    )
    .await;
    let defaults = |answer: &Value| -> Vec<String> {
        answer["data"]["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["isDefault"] == true)
            .map(|p| p["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    loop {
        let answer = graphql(
            &client,
            &b.url,
            "{ providers { slug isDefault } }",
            json!({}),
        )
        .await;
        if defaults(&answer) == ["smso2"] {
            break;
        }
        assert!(
            activated.elapsed() < Duration::from_secs(15),
            "B still has {:?} as the default",
            defaults(&answer)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let propagated = activated.elapsed();

    // A subscriber on A follows a message sent through B, to DELIVERED. A message sent through
    // A itself first shows the subscription is registered (A's own bus carries it).
    let mut ws = subscribe(&a.url, "+40755888001").await;
    let send = |url: String, body: &'static str| {
        let client = client.clone();
        async move {
            let answer = graphql(
                &client,
                &url,
                SEND,
                json!({ "input": { "to": "0755888001", "body": body } }),
            )
            .await;
            answer["data"]["sendSms"]["message"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let probe = send(a.url.clone(), "through A").await;
    while next_frame(&mut ws).await["payload"]["data"]["messageUpdates"]["id"] != probe.as_str() {}
    let subscribed = Instant::now();
    let through_b = send(b.url.clone(), "through B").await;
    let mut seen: Vec<String> = Vec::new();
    while seen.last().map(String::as_str) != Some("DELIVERED") {
        let frame = next_frame(&mut ws).await;
        assert_eq!(frame["type"], "next", "{frame}");
        let update = &frame["payload"]["data"]["messageUpdates"];
        if update["id"] == through_b.as_str() {
            seen.push(update["status"].as_str().unwrap().to_owned());
        }
    }
    println!(
        "shared default: seen on B after {propagated:.1?}; update of a message sent through B seen on A: {seen:?} in {:.1?}",
        subscribed.elapsed()
    );
    assert!(
        propagated < Duration::from_secs(5),
        "within seconds: {propagated:?}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("DELIVERED"));
    drop((a, b));
    drop_database(&db).await;
}
