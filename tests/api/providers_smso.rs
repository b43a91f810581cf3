//! SMSO end to end against a fake SMSO on loopback: the exact requests, status polling, and
//! what each error kind does to a message.

use crate::fakes::{
    self,
    smso::{FakeSmso, Mode, KEY, SENDER, TOKEN},
    spawn_with_providers, Provider,
};
use serde_json::{json, Value};

fn smso(fake: &FakeSmso, settings: Value) -> Provider {
    fake.provider(settings)
}

#[tokio::test]
async fn smso_sends_the_documented_form_checks_credit_and_polls_until_delivered() {
    let fake = FakeSmso::start().await;
    let (app, _) = spawn_with_providers(
        vec![smso(&fake, json!({ "status_poll_initial_ms": 50 }))],
        None,
    )
    .await;

    // The balance is read when the provider starts: with the raw key, no scheme.
    let credit = fake.journal.wait_for("/api/v1/credit-check", 1).await;
    assert_eq!(credit[0].method, "GET");
    assert_eq!(credit[0].header("x-authorization"), Some(KEY));

    let sent = app
        .send_sms(json!({ "to": "0722334455", "body": "Codul tau: 123456", "type": "OTP" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    let sends = fake.journal.wait_for("/api/v1/send", 1).await;
    assert_eq!(sends[0].method, "POST");
    assert_eq!(sends[0].header("x-authorization"), Some(KEY));
    assert_eq!(
        sends[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = sends[0].form();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("to", "+40722334455"),
            ("sender", SENDER),
            ("body", "Codul tau: 123456"),
            ("type", "transactional")
        ]
    );

    // Polled without the key, by the response token, while SMSO says "sent".
    let polls = fake.journal.wait_for("/api/v1/status", 1).await;
    assert_eq!(polls[0].method, "GET");
    assert_eq!(
        polls[0].query.as_deref(),
        Some(format!("responseToken={TOKEN}").as_str())
    );
    assert_eq!(polls[0].header("x-authorization"), None);
    assert_eq!(app.message(id).await["status"], "SENT");

    fake.set_status("delivered");
    app.wait_for_status(id, "DELIVERED").await;
    let stored = app.message(id).await;
    assert_eq!(stored["providerMessageId"], TOKEN);
    assert_eq!(stored["cost"], 3.5);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}

#[tokio::test]
async fn an_invalid_number_fails_at_once_without_a_retry() {
    let fake = FakeSmso::start().await;
    let (app, _) = spawn_with_providers(vec![smso(&fake, json!({}))], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722000000", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    let stored = app.message(id).await;
    assert_eq!(stored["attempts"], 1);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
    let errors = app
        .graphql(
            "query($id: ID!) { message(id: $id) { error { kind } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        errors["data"]["message"]["error"]["kind"], "INVALID_RECIPIENT",
        "{errors}"
    );
}

#[tokio::test]
async fn a_send_that_stalls_past_the_timeout_is_failed_not_sent_twice() {
    let fake = FakeSmso::start().await;
    fake.set_mode(Mode::Stall);
    let (app, _) = spawn_with_providers(
        vec![smso(&fake, json!({ "request_timeout_ms": 300 }))],
        None,
    )
    .await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { attempts error { kind message } } }",
            json!({ "id": id }),
        )
        .await;
    let message = &answer["data"]["message"];
    assert_eq!(message["attempts"], 1, "{answer}");
    assert_eq!(message["error"]["kind"], "INTERRUPTED", "{answer}");
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may have gone out"),
        "{answer}"
    );
    assert!(!message["error"]["message"].as_str().unwrap().contains(KEY));
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}

#[tokio::test]
async fn a_malformed_answer_to_a_send_is_not_sent_again() {
    let fake = FakeSmso::start().await;
    fake.set_mode(Mode::Malformed);
    let (app, _) = spawn_with_providers(vec![smso(&fake, json!({}))], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_retry_can_succeed() {
    let fake = FakeSmso::start().await;
    // One 500, then the provider is back: switching modes from the test instead raced the
    // retry, whose jittered backoff can be a few milliseconds.
    fake.set_mode(Mode::Status500Once);
    let (app, _) = spawn_with_providers(vec![smso(&fake, json!({}))], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    let stored = app.message(id).await;
    assert_eq!(stored["attempts"], 2);
    let statuses: Vec<String> = fakes::events(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["QUEUED", "SENDING", "RETRYING", "SENDING", "SENT"]
    );
}

#[tokio::test]
async fn smso_throttling_409_is_rate_limited_and_retried_later() {
    let fake = FakeSmso::start().await;
    fake.set_mode(Mode::Throttled);
    let (app, _) = spawn_with_providers(vec![smso(&fake, json!({}))], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "RETRYING").await;
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { status error { kind } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        answer["data"]["message"]["error"]["kind"], "RATE_LIMITED",
        "{answer}"
    );
}
