//! What the tests of the real binary (tests/crash.rs, tests/multi) share: `smsgate serve` as a
//! child process, and a GraphQL client that sends with idempotency keys and reads every message
//! back. Each test crate uses part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub const FINAL: [&str; 4] = ["DELIVERED", "UNDELIVERED", "FAILED", "EXPIRED"];

pub const SEND: &str =
    "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }";
pub const LIST: &str = "query($after: String) { messages(first: 100, after: $after) { edges { node { id body status error { kind } } } pageInfo { hasNextPage endCursor } } }";

/// `smsgate serve` as a child process, killed when dropped.
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

/// Starts `smsgate serve` on loopback ports in dev mode with `env` on top, and waits for its
/// banner, which names the public address. `name` marks its lines when TEST_LOG is set.
pub fn start(name: &str, env: &[(&str, String)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .arg("serve")
        .env("SMSGATE_LISTEN", "127.0.0.1:0")
        .env("SMSGATE_INTERNAL_LISTEN", "127.0.0.1:0")
        .env("SMSGATE_MODE", "dev")
        // The clients are one token sending as fast as it can: the per-token limit would refuse
        // them, and these tests are about crashes and instances, not limits.
        .env("SMSGATE_RATE_LIMIT_PER_SECOND", "0")
        // The fakes listen on loopback, which the outbound policy refuses unless listed.
        .env("SMSGATE_OUTBOUND_ALLOW", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("smsgate starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_owned();
    // Keeps draining stdout after the banner so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("smsgate listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
            } else if std::env::var_os("TEST_LOG").is_some() {
                println!("[{name}] {line}");
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("smsgate printed its banner");
    Server { child, url }
}

#[derive(Debug)]
pub struct Stored {
    pub id: String,
    pub body: String,
    pub status: String,
    pub error: Option<String>,
}

/// One test's caller: the admin token it sends with, and the name in its keys and bodies.
#[derive(Clone, Copy)]
pub struct Caller {
    pub token: &'static str,
    pub name: &'static str,
}

impl Caller {
    pub fn body_of(self, i: usize) -> String {
        format!("{} test message {i}", self.name)
    }

    /// A query that must succeed.
    pub async fn graphql(
        self,
        client: &reqwest::Client,
        url: &str,
        query: &str,
        variables: Value,
    ) -> Value {
        let answer: Value = client
            .post(format!("{url}/graphql"))
            .bearer_auth(self.token)
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

    /// One attempt to send message `i` with its idempotency key: `Some(id)` when the server
    /// acknowledged it, `None` when there was no answer or a retryable refusal.
    pub async fn send_once(self, client: &reqwest::Client, url: &str, i: usize) -> Option<String> {
        let input = json!({
            "to": format!("+40722{:06}", 100_000 + i),
            "body": self.body_of(i),
            "idempotencyKey": format!("{}-{i}", self.name),
        });
        let answer: Value = client
            .post(format!("{url}/graphql"))
            .bearer_auth(self.token)
            .json(&json!({ "query": SEND, "variables": { "input": input } }))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        if let Some(errors) = answer.get("errors") {
            let code = errors[0]["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                code == "UNAVAILABLE" || code == "SHUTTING_DOWN",
                "only a retryable refusal is expected: {answer}"
            );
            return None;
        }
        answer["data"]["sendSms"]["message"]["id"]
            .as_str()
            .map(str::to_owned)
    }

    /// The statistics summed over yesterday to tomorrow: (sent, delivered, failed).
    pub async fn statistics_totals(self, client: &reqwest::Client, url: &str) -> (i64, i64, i64) {
        let today = chrono::Utc::now().date_naive();
        let stats = self
            .graphql(
                client,
                url,
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
        (sum("sentCount"), sum("deliveredCount"), sum("failedCount"))
    }

    /// Every stored message, page by page.
    pub async fn all_messages(self, client: &reqwest::Client, url: &str) -> Vec<Stored> {
        let mut out = Vec::new();
        let mut after = Value::Null;
        loop {
            let answer = self
                .graphql(client, url, LIST, json!({ "after": after }))
                .await;
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
}
