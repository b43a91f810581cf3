//! The crash test (issue 5): the real `smsgate` binary against a fake SMSO on loopback, driven by
//! concurrent clients sending with idempotency keys, killed with SIGKILL in the middle and
//! restarted on the same data dir. The clients retry what had no answer, with the same key.
//!
//! Checks: every acknowledged message reaches a final state; the fake received each message at
//! most once (the ones that were SENDING at the kill end FAILED/INTERRUPTED and are listed, never
//! resent); every idempotency key names one message; the statistics agree with the messages.
//!
//! A second test stops the binary with SIGTERM while provider calls are in flight: they finish,
//! nothing ends INTERRUPTED, and the next start sends what was still QUEUED, each message once.
//!
//! `SMSGATE_CRASH_MESSAGES` sets the number of messages (default 5,000) and
//! `SMSGATE_CRASH_CLIENTS` the number of concurrent clients (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/binary.rs"]
mod binary;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, post},
    Router,
};
use binary::{Caller, Server, Stored, FINAL};
use serde_json::json;
use smsgate::{secrets::Keyring, store::EmbeddedStore};
use smsgate_actors::{
    domain::{ProviderConfig, ProviderId, ProviderKind},
    ports::Store,
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

const ADMIN: &str = "crash-admin-token-0123456789";
const CALLER: Caller = Caller {
    token: ADMIN,
    name: "crash",
};
const KEY: &str = "smso-crash-key-1234";
const SENDER: &str = "4";
/// The whole test, including both starts and the wait for final states, must end within this.
const DEADLINE: Duration = Duration::from_secs(240);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// The fake SMSO: the real wire format (smso.md §9), counting every send by its body.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Fake {
    /// Sends received, by message body (each body is unique to one idempotency key).
    sends: Arc<Mutex<HashMap<String, usize>>>,
    next_token: Arc<AtomicUsize>,
    /// How long each send takes, so calls are in flight when the server is stopped.
    send_delay_ms: Arc<AtomicUsize>,
    /// While set, send answers wait (the message is counted, the answer is held) until
    /// `release`: calls are surely in flight when the server is stopped, however slow the host.
    held: Arc<std::sync::atomic::AtomicBool>,
    released: Arc<tokio::sync::Notify>,
}

impl Fake {
    fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }
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
    loop {
        let released = fake.released.notified();
        if !fake.held.load(Ordering::SeqCst) {
            break;
        }
        released.await;
    }
    let delay = fake.send_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    let token = fake.next_token.fetch_add(1, Ordering::Relaxed);
    axum::Json(
        json!({"status": 200, "responseToken": format!("tok-{token}"), "transaction_cost": 3.5}),
    )
    .into_response()
}

async fn fake_status(Query(_q): Query<HashMap<String, String>>) -> Response {
    axum::Json(json!({
        "status": 200,
        "data": {"status": "delivered", "sent_at": "2024-05-01 12:30:09",
                 "delivered_at": "2024-05-01 12:30:15"}
    }))
    .into_response()
}

async fn fake_credit() -> Response {
    // Plenty: smsgate counts credit down per send and stops using a provider that has none.
    // (The test is about crashes, not credit.)
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

// ---------------------------------------------------------------------------------------------
// The server as a child process.
// ---------------------------------------------------------------------------------------------

/// Starts `smsgate serve` on `dir` and waits for its banner.
fn start_server(dir: &Path, encryption_key: &str) -> Server {
    binary::start(
        "smsgate",
        &[
            ("SMSGATE_DATA_DIR", dir.display().to_string()),
            ("SMSGATE_ADMIN_TOKEN", ADMIN.to_owned()),
            (
                "SMSGATE_SERVICE_TOKEN",
                "crash-service-token-0123456789".to_owned(),
            ),
            ("SMSGATE_ENCRYPTION_KEYS", encryption_key.to_owned()),
        ],
    )
}

/// Stores the SMSO provider, with sealed credentials, before the first start.
async fn seed_provider(dir: &Path, fake: SocketAddr, keyring: &Keyring) {
    let store = EmbeddedStore::open(dir).unwrap();
    let now = chrono::Utc::now();
    store
        .insert_provider(&ProviderConfig {
            id: ProviderId::generate(),
            name: "SMSO".into(),
            slug: "smso".into(),
            kind: ProviderKind::Smso,
            is_active: true,
            is_default: true,
            priority: 0,
            features: vec!["sms".into()],
            sender_id: Some(SENDER.into()),
            api_base_url: Some(format!("http://{fake}/api/v1/")),
            credentials: Some(keyring.seal(&json!({ "apiKey": KEY }))),
            api_key_hint: Some("****1234".into()),
            settings: json!({ "status_poll_initial_ms": 100, "max_concurrency": 16 }),
            created_at: now,
            updated_at: now,
            webhook_secret: None,
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    /// Idempotency key index → the message id its (last) answer named.
    acked: Mutex<HashMap<usize, String>>,
    answered_before_kill: AtomicUsize,
    /// Requests that had no answer at least once and were sent again with the same key.
    retried: AtomicUsize,
}

async fn client_loop(
    next: Arc<AtomicUsize>,
    total: usize,
    tally: Arc<Tally>,
    mut server: watch::Receiver<(u32, String)>,
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
        let mut retried = false;
        loop {
            let (generation, url) = server.borrow_and_update().clone();
            if let Some(id) = CALLER.send_once(&client, &url, i).await {
                if generation == 0 {
                    tally.answered_before_kill.fetch_add(1, Ordering::Relaxed);
                }
                tally.acked.lock().unwrap().insert(i, id);
                break;
            }
            if !retried {
                retried = true;
                tally.retried.fetch_add(1, Ordering::Relaxed);
            }
            // No answer: the server is down (or stopping). Wait for the next one, or try again
            // shortly if this one still answers (an UNAVAILABLE).
            let _ = tokio::time::timeout(Duration::from_millis(200), server.changed()).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_accepted_message_ends_final_and_nothing_is_sent_twice() {
    let started = Instant::now();
    let total = env_usize("SMSGATE_CRASH_MESSAGES", 5_000);
    let clients = env_usize("SMSGATE_CRASH_CLIENTS", 20);
    let kill_at = total / 2;

    let (fake, fake_addr) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let key = Keyring::generate_key();
    let keyring = Keyring::new([key.as_str()]).unwrap();
    seed_provider(dir.path(), fake_addr, &keyring).await;

    let mut server = start_server(dir.path(), &key);
    let (tx, rx) = watch::channel((0u32, server.url.clone()));
    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client_loop(next.clone(), total, tally.clone(), rx.clone())))
        .collect();

    // Kill in the middle: once half the messages were acknowledged, while clients are sending
    // and the provider is being called.
    let waited = Instant::now();
    while tally.acked.lock().unwrap().len() < kill_at {
        assert!(
            waited.elapsed() < DEADLINE,
            "the first half was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL on Unix.
    server.child.wait().unwrap();
    let answered_before_kill = tally.answered_before_kill.load(Ordering::Relaxed);
    let sends_before_kill: usize = fake.sends.lock().unwrap().values().sum();

    drop(server);
    let server = start_server(dir.path(), &key);
    tx.send((1, server.url.clone())).unwrap();
    for task in tasks {
        tokio::time::timeout(DEADLINE.saturating_sub(started.elapsed()), task)
            .await
            .expect("the clients finish in time")
            .unwrap();
    }

    // Every acknowledged message reaches a final state (bounded wait, polling the API).
    let client = reqwest::Client::new();
    let messages = loop {
        let messages = CALLER.all_messages(&client, &server.url).await;
        if messages.iter().all(|m| FINAL.contains(&m.status.as_str())) {
            break messages;
        }
        let open = messages
            .iter()
            .filter(|m| !FINAL.contains(&m.status.as_str()))
            .count();
        assert!(
            started.elapsed() < DEADLINE,
            "{open} messages are still not final"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let acked = tally.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), total, "every request was answered in the end");
    let by_id: HashMap<&str, &Stored> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    for (i, id) in &acked {
        let stored = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged message {id} (key crash-{i}) was lost"));
        assert_eq!(
            stored.body,
            CALLER.body_of(*i),
            "key crash-{i} answered another message"
        );
    }

    // Every idempotency key names exactly one message.
    let mut per_body: HashMap<&str, usize> = HashMap::new();
    for m in &messages {
        *per_body.entry(m.body.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = per_body.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "keys stored twice: {doubled:?}");
    assert_eq!(messages.len(), total, "one message per key, no strays");
    let distinct_ids: HashSet<&String> = acked.values().collect();
    assert_eq!(distinct_ids.len(), total);

    // The fake received each message at most once.
    let sends = fake.sends.lock().unwrap().clone();
    let duplicates: BTreeMap<&String, &usize> = sends.iter().filter(|(_, n)| **n > 1).collect();

    let count = |status: &str| messages.iter().filter(|m| m.status == status).count();
    let delivered = count("DELIVERED");
    let failed = count("FAILED");
    let undelivered = count("UNDELIVERED");
    let expired = count("EXPIRED");
    let interrupted: Vec<&Stored> = messages
        .iter()
        .filter(|m| m.error.as_deref() == Some("INTERRUPTED"))
        .collect();

    println!("crash test: {total} messages from {clients} clients");
    println!("  accepted (acknowledged):        {}", acked.len());
    println!("  answered before the kill:       {answered_before_kill}");
    println!("  provider sends before the kill: {sends_before_kill}");
    println!(
        "  retried after no answer:        {}",
        tally.retried.load(Ordering::Relaxed)
    );
    println!("  delivered:                      {delivered}");
    println!("  failed:                         {failed}");
    println!("  undelivered / expired:          {undelivered} / {expired}");
    println!("  interrupted (ambiguous):        {}", interrupted.len());
    for m in &interrupted {
        println!(
            "    {} {:?}: the fake received it {} time(s); not resent",
            m.id,
            m.body,
            sends.get(&m.body).copied().unwrap_or(0)
        );
    }
    println!(
        "  provider sends in all:          {}",
        sends.values().sum::<usize>()
    );
    println!("  duplicates at the fake:         {}", duplicates.len());
    println!("  took {:.1?}", started.elapsed());

    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    // Only a message that was SENDING at the kill may fail; nothing else went wrong here.
    assert_eq!(failed, interrupted.len(), "only interrupted sends fail");
    assert_eq!(undelivered + expired, 0);
    for m in messages.iter().filter(|m| m.status == "DELIVERED") {
        assert_eq!(sends.get(&m.body), Some(&1), "{} was delivered", m.id);
    }

    // The statistics agree with the messages.
    let figures = CALLER.statistics_totals(&client, &server.url).await;
    println!(
        "  statistics sent/delivered/failed: {}/{}/{}",
        figures.0, figures.1, figures.2
    );
    // Every delivered message was SENT first; an interrupted one never reached SENT.
    let expected = (
        i64::try_from(delivered + undelivered).unwrap(),
        i64::try_from(delivered).unwrap(),
        i64::try_from(failed + undelivered + expired).unwrap(),
    );
    assert_eq!(figures, expected, "statistics (sent, delivered, failed)");
}

/// Process-level graceful shutdown: SIGTERM while provider calls are in flight. The calls finish
/// (nothing ends INTERRUPTED), the process exits cleanly, and the next start sends what was
/// still QUEUED, each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_calls_in_flight_finish_and_the_next_start_sends_the_rest() {
    let started = Instant::now();
    let total = 300;
    let (fake, fake_addr) = start_fake().await;
    fake.send_delay_ms.store(200, Ordering::Relaxed);
    fake.held.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let key = Keyring::generate_key();
    let keyring = Keyring::new([key.as_str()]).unwrap();
    seed_provider(dir.path(), fake_addr, &keyring).await;

    let mut server = start_server(dir.path(), &key);
    let client = reqwest::Client::new();
    let mut acked = HashMap::new();
    for i in 0..total {
        let id = CALLER
            .send_once(&client, &server.url, i)
            .await
            .expect("accepted while running");
        acked.insert(i, id);
    }
    // The fake holds every answer: the first calls are in flight, the rest queued behind them.
    // They are let go once the stop has begun, and must finish within the grace period.
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    fake.release();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "smsgate did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "a clean exit: {exit:?}");
    let sent_before_restart: usize = fake.sends.lock().unwrap().values().sum();

    drop(server);
    let server = start_server(dir.path(), &key);
    let messages = loop {
        let messages = CALLER.all_messages(&client, &server.url).await;
        if messages.iter().all(|m| FINAL.contains(&m.status.as_str())) {
            break messages;
        }
        assert!(started.elapsed() < DEADLINE, "messages are still not final");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "sigterm: {total} accepted, {sent_before_restart} sent before the stop, the rest after the restart; took {:.1?}",
        started.elapsed()
    );
    assert_eq!(messages.len(), total);
    assert!(
        messages.iter().all(|m| m.status == "DELIVERED"),
        "nothing is interrupted by a graceful stop: {:?}",
        messages
            .iter()
            .filter(|m| m.status != "DELIVERED")
            .collect::<Vec<_>>()
    );
    let sends = fake.sends.lock().unwrap().clone();
    assert_eq!(sends.len(), total);
    assert!(sends.values().all(|n| *n == 1), "each message sent once");
    assert!(
        sent_before_restart < total,
        "the stop came after everything was sent; the test proved nothing"
    );
    for (i, id) in &acked {
        let m = messages.iter().find(|m| &m.id == id).unwrap();
        assert_eq!(m.body, CALLER.body_of(*i));
    }
}
