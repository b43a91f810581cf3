//! Fake provider servers on loopback: each speaks its provider's real wire format (paths,
//! headers, auth, form or JSON, status codes, documented answers), answers as the test scripts
//! it, and records every request it received.

pub mod generic;
pub mod smso;
pub mod twilio;
pub mod vonage;

use axum::{body::Bytes, http::HeaderMap};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};
use tokio::sync::Notify;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived, for tests of pacing (backoff, Retry-After).
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The requests a fake received, with a way to await the next one instead of polling.
#[derive(Default, Clone)]
pub struct Journal {
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
}

impl Journal {
    pub fn push(&self, r: Recorded) {
        self.requests.lock().unwrap().push(r);
        self.arrived.notify_waiters();
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn to_path(&self, suffix: &str) -> Vec<Recorded> {
        self.all()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    /// Waits (at most 10 s) until `n` requests to a path ending in `suffix` have arrived.
    pub async fn wait_for(&self, suffix: &str, n: usize) -> Vec<Recorded> {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let notified = self.arrived.notified();
                let seen = self.to_path(suffix);
                if seen.len() >= n {
                    return seen;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} request(s) to {suffix} did not arrive"))
    }
}

pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A fake's server that can be stopped (connections refused) and started again on its address.
pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn start(addr: SocketAddr, router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Running { addr, stop, task }
    }

    /// Closes the listener and every open connection; waits (at most 5 s) until they are gone.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// One provider for `spawn_with_providers`.
pub struct Provider {
    pub slug: &'static str,
    pub kind: smsgate_actors::domain::ProviderKind,
    pub base_url: String,
    pub sender: &'static str,
    pub credentials: serde_json::Value,
    pub settings: serde_json::Value,
    /// Lower goes first after the default; the first provider given is the default.
    pub priority: i32,
}

/// Inserts the providers, with sealed credentials, into a fresh data dir and starts smsgate
/// on it with the same encryption key. Returns the app and each provider's id, in order.
pub async fn spawn_with_providers(
    providers: Vec<Provider>,
    public_url: Option<&str>,
) -> (crate::helpers::TestApp, Vec<String>) {
    spawn_with_providers_and_file(providers, public_url, None).await
}

/// As `spawn_with_providers`, with an `smsgate.toml` of `file` (alert timing, say).
pub async fn spawn_with_providers_and_file(
    providers: Vec<Provider>,
    public_url: Option<&str>,
    file: Option<&str>,
) -> (crate::helpers::TestApp, Vec<String>) {
    spawn_with_providers_and_env(providers, public_url, file, &[]).await
}

/// As `spawn_with_providers_and_file`, with more `SMSGATE_*` variables (`extra` wins).
pub async fn spawn_with_providers_and_env(
    providers: Vec<Provider>,
    public_url: Option<&str>,
    file: Option<&str>,
    extra: &[(&str, &str)],
) -> (crate::helpers::TestApp, Vec<String>) {
    use smsgate::{secrets::Keyring, store::EmbeddedStore};
    use smsgate_actors::{
        domain::{ProviderConfig, ProviderId},
        ports::Store,
    };
    let dir = tempfile::tempdir().unwrap();
    let key = Keyring::generate_key();
    let keyring = Keyring::new([key.as_str()]).unwrap();
    let mut ids = Vec::new();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for (i, p) in providers.into_iter().enumerate() {
            let now = chrono::Utc::now();
            let id = ProviderId::generate();
            ids.push(id.as_str().to_owned());
            let secret = p
                .kind
                .has_webhook_secret()
                .then(|| webhook_secret(id.as_str()));
            store
                .insert_provider(&ProviderConfig {
                    id,
                    name: p.slug.to_owned(),
                    slug: p.slug.to_owned(),
                    kind: p.kind,
                    is_active: true,
                    is_default: i == 0,
                    priority: p.priority,
                    features: vec!["sms".into()],
                    sender_id: Some(p.sender.to_owned()),
                    api_base_url: Some(p.base_url),
                    credentials: Some(keyring.seal(&p.credentials)),
                    api_key_hint: Some("****test".into()),
                    settings: p.settings,
                    created_at: now,
                    updated_at: now,
                    webhook_secret: secret,
                })
                .await
                .unwrap();
        }
    }
    let mut env = vec![("SMSGATE_ENCRYPTION_KEYS", key.as_str())];
    if let Some(url) = public_url {
        env.push(("SMSGATE_PUBLIC_URL", url));
    }
    env.extend_from_slice(extra);
    let app = crate::helpers::spawn_app_with_file(dir, file, &env).await;
    (app, ids)
}

/// The webhook path secret `spawn_with_providers` gives a provider of a kind that has one:
/// derived from its id, so a test can build its webhook URL.
pub fn webhook_secret(provider_id: &str) -> String {
    format!("{provider_id}0123456789abcdef")
}

/// Where smsgate takes `kind`'s (`smso`, `vonage`) receipts for this provider.
pub fn webhook_path(kind: &str, provider_id: &str) -> String {
    format!(
        "/webhooks/{kind}/{provider_id}/{}",
        webhook_secret(provider_id)
    )
}

/// The statuses of a message's events, in order, and the provider of each.
pub fn events(message: &serde_json::Value) -> Vec<(String, Option<String>)> {
    message["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["provider"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
