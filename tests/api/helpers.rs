//! `spawn_app()`: smsgate on port 0 with a fresh data dir and known tokens, plus typed helpers.

use serde_json::{json, Value};
use smsgate::{config::Settings, startup::Application};
use std::{net::SocketAddr, path::Path, time::Duration};
use tokio::sync::oneshot;

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const SERVICE: &str = "test-service-token-0123456789";

pub struct TestApp {
    pub public: SocketAddr,
    pub internal: SocketAddr,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// What the application printed at start-up.
    pub banner: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

fn settings(dir: &Path, file: Option<&str>, extra: &[(&str, &str)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("SMSGATE_LISTEN".into(), "127.0.0.1:0".into()),
        ("SMSGATE_INTERNAL_LISTEN".into(), "127.0.0.1:0".into()),
        ("SMSGATE_DATA_DIR".into(), dir.display().to_string()),
        ("SMSGATE_ADMIN_TOKEN".into(), ADMIN.into()),
        ("SMSGATE_SERVICE_TOKEN".into(), SERVICE.into()),
        ("SMSGATE_MODE".into(), "dev".into()),
        // The fakes listen on loopback, which the outbound policy refuses unless listed.
        ("SMSGATE_OUTBOUND_ALLOW".into(), "127.0.0.1".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load_from(file, env).expect("test settings are valid")
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(dir, &[]).await
}

pub async fn spawn_app_in(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with_file(dir, None, extra).await
}

/// Starts smsgate as `spawn_app_in` does, with `file` as the text of its `smsgate.toml`.
pub async fn spawn_app_with_file(
    dir: tempfile::TempDir,
    file: Option<&str>,
    extra: &[(&str, &str)],
) -> TestApp {
    smsgate::telemetry::init_for_tests();
    let app = Application::build(settings(dir.path(), file, extra))
        .await
        .expect("application builds");
    let (public, internal) = (app.public_addr(), app.internal_addr());
    let banner = app.banner().to_vec();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = rx.await;
        })
        .await
        .expect("application runs");
    });
    TestApp {
        public,
        internal,
        client: reqwest::Client::new(),
        dir,
        banner,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    pub fn internal_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.internal)
    }

    /// The Prometheus text of the internal listener's `/metrics`.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.internal_url("/metrics"))
            .send()
            .await
            .expect("metrics scraped")
            .text()
            .await
            .expect("metrics text")
    }

    /// Stops the server gracefully and hands back its data dir, for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .expect("stops in time")
                .expect("stops cleanly");
        }
        self.dir
    }

    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), 200, "GraphQL answers 200");
        response.json().await.expect("JSON body")
    }

    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(ADMIN), query, variables).await
    }

    /// Sends through GraphQL and returns the `message` of the payload.
    pub async fn send_sms(&self, input: Value) -> Value {
        let answer = self
            .graphql(
                "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id to status type encoding segments } } }",
                json!({ "input": input }),
            )
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
        answer["data"]["sendSms"]["message"].clone()
    }

    pub async fn message(&self, id: &str) -> Value {
        let answer = self
            .graphql(
                "query($id: ID!) { message(id: $id) { id to body status provider providerMessageId cost attempts segments encoding sentAt deliveredAt events { status provider } } }",
                json!({ "id": id }),
            )
            .await;
        answer["data"]["message"].clone()
    }

    /// Follows one message over the WebSocket until it has been through `status` (now or
    /// earlier: a passing status such as RETRYING may be over before the subscription starts).
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Vec<String> {
        let mut ws = crate::subscription::connect(self, ADMIN).await;
        let seen = crate::subscription::follow(&mut ws, &json!({ "id": id }), status).await;
        let reached = self.message(id).await["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["status"] == status));
        assert!(reached, "{id} never reached {status}: saw {seen:?}");
        seen
    }
}

pub fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer}"))
}

impl TestApp {
    /// A named token, created as `smsgate tokens create` does, on the running app's store.
    pub async fn create_token(&self, name: &str, role: smsgate::http::auth::Role) -> String {
        let store = smsgate::store::EmbeddedStore::open(self.dir.path()).expect("store opens");
        let (token, _) = smsgate::access::create_token(&store, name, role)
            .await
            .expect("token created");
        token.expose().to_owned()
    }

    /// Revokes a named token as `smsgate tokens revoke` does: from another store handle, so
    /// the server learns of it only through the store.
    pub async fn revoke_token(&self, name: &str) {
        let store = smsgate::store::EmbeddedStore::open(self.dir.path()).expect("store opens");
        smsgate::access::revoke_token(&store, name)
            .await
            .expect("token revoked");
    }
}
