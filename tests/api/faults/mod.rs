//! The fault-injection suite: a fake Twilio (the default provider) told at run time to fail
//! in one way, a healthy fake SMSO behind it. For each fault a test follows every message to
//! its final state, checks its events and which provider delivered it, watches the circuit
//! (or the credit flag) change in GraphQL `providers { health }` and change back once the fault
//! is lifted, and counts at both fakes that no message was taken twice.

mod ambiguous;
mod failover;

use crate::{
    fakes::{
        smso::{self as fake_smso, FakeSmso},
        spawn_with_providers,
        twilio::{self as fake_twilio, FakeTwilio},
        Provider,
    },
    helpers::TestApp,
};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;
use std::time::Duration;

pub struct Rig {
    pub app: TestApp,
    pub twilio: FakeTwilio,
    pub smso: FakeSmso,
}

/// Short timeouts and cool-downs so a fault shows (and heals) in well under a second: a 30 s
/// stall is seen through the 1 s request timeout, two failures in a row open the circuit.
pub async fn rig() -> Rig {
    let twilio = FakeTwilio::start().await;
    let smso = FakeSmso::start().await;
    smso.set_status("delivered");
    let providers = vec![
        Provider {
            slug: "twilio",
            kind: ProviderKind::Twilio,
            base_url: twilio.base_url(),
            sender: fake_twilio::FROM,
            credentials: json!({ "accountSid": fake_twilio::SID, "authToken": fake_twilio::TOKEN }),
            settings: json!({
                "request_timeout_ms": 1000, "connect_timeout_ms": 500,
                "breaker_consecutive_failures": 2, "breaker_window": 1000,
                "breaker_cooldown_ms": 400, "balance_recheck_ms": 200,
                "status_poll": true, "status_poll_initial_ms": 50,
                "reconcile_delay_ms": 100,
            }),
            priority: 0,
        },
        Provider {
            slug: "smso",
            kind: ProviderKind::Smso,
            base_url: smso.base_url(),
            sender: fake_smso::SENDER,
            credentials: json!({ "apiKey": fake_smso::KEY }),
            settings: json!({ "status_poll_initial_ms": 50 }),
            priority: 1,
        },
    ];
    let (app, _) = spawn_with_providers(providers, None).await;
    Rig { app, twilio, smso }
}

impl Rig {
    pub async fn send(&self, body: &str) -> String {
        let sent = self
            .app
            .send_sms(json!({ "to": "+40722334455", "body": body }))
            .await;
        sent["id"].as_str().unwrap().to_owned()
    }

    /// The message once it reached `status`: its provider and its events as
    /// `STATUS provider ERROR_KIND`.
    pub async fn settled(&self, id: &str, status: &str) -> (Value, Vec<String>) {
        self.app.wait_for_status(id, status).await;
        let answer = self
            .app
            .graphql(
                "query($id: ID!) { message(id: $id) { status provider providerMessageId attempts events { status provider error { kind } } } }",
                json!({ "id": id }),
            )
            .await;
        let message = answer["data"]["message"].clone();
        let events = message["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut line = e["status"].as_str().unwrap().to_owned();
                if let Some(p) = e["provider"].as_str() {
                    line.push(' ');
                    line.push_str(p);
                }
                if let Some(k) = e["error"]["kind"].as_str() {
                    line.push(' ');
                    line.push_str(k);
                }
                line
            })
            .collect();
        assert_eq!(message["status"], status, "{message}");
        (message, events)
    }

    /// Twilio's health as an admin sees it: `(circuit, outOfCredit)`.
    pub async fn twilio_health(&self) -> (String, bool) {
        let answer = self
            .app
            .graphql(
                "{ providers { slug health { circuit outOfCredit } } }",
                json!({}),
            )
            .await;
        let providers = answer["data"]["providers"].as_array().unwrap();
        let twilio = providers.iter().find(|p| p["slug"] == "twilio").unwrap();
        (
            twilio["health"]["circuit"].as_str().unwrap().to_owned(),
            twilio["health"]["outOfCredit"].as_bool().unwrap(),
        )
    }

    /// Polls Twilio's health (every 20 ms, for at most 10 s) until `expected` holds.
    pub async fn wait_health(&self, circuit: &str, out_of_credit: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.twilio_health().await;
            if now == (circuit.to_owned(), out_of_credit) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "twilio stayed {now:?}, expected ({circuit}, out of credit: {out_of_credit})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// After the fault opened Twilio's circuit: a message goes straight to SMSO; the fault is
    /// lifted; after the cool-down one probe through Twilio closes the circuit. Returns the
    /// texts sent.
    pub async fn open_then_heal(
        &self,
        label: &str,
        lift: impl std::future::Future<Output = ()>,
    ) -> Vec<String> {
        self.wait_health("OPEN", false).await;
        let while_open = format!("{label} while open");
        let id = self.send(&while_open).await;
        let (_, events) = self.settled(&id, "DELIVERED").await;
        assert_eq!(
            events,
            ["QUEUED", "SENDING smso", "SENT smso", "DELIVERED smso"]
        );

        lift.await;
        self.wait_health("HALF_OPEN", false).await;
        let after = format!("{label} after");
        let id = self.send(&after).await;
        let (message, events) = self.settled(&id, "DELIVERED").await;
        assert_eq!(
            events,
            [
                "QUEUED",
                "SENDING twilio",
                "SENT twilio",
                "DELIVERED twilio"
            ]
        );
        assert!(message["providerMessageId"]
            .as_str()
            .is_some_and(|sid| sid.starts_with("SM")));
        self.wait_health("CLOSED", false).await;
        vec![while_open, after]
    }

    /// How many times the fakes took a message with this body, Twilio and SMSO together.
    pub fn taken(&self, body: &str) -> usize {
        let at_smso = self
            .smso
            .journal
            .to_path("/api/v1/send")
            .iter()
            .filter(|r| r.form().iter().any(|(k, v)| k == "body" && v == body))
            .count();
        self.twilio.taken_with_body(body) + at_smso
    }

    /// Every message went out exactly once, whatever the fault did.
    pub fn assert_each_taken_once(&self, bodies: &[String]) {
        for body in bodies {
            assert_eq!(
                self.taken(body),
                1,
                "{body} was taken {} times",
                self.taken(body)
            );
        }
    }
}
