//! Idempotency keys over HTTP: concurrent duplicates resolve to one message and one provider
//! call, through GraphQL and the REST send alike; the same key with another request is CONFLICT.

use crate::{
    fakes::{
        smso::{FakeSmso, KEY, SENDER},
        spawn_with_providers, Provider,
    },
    helpers::{error_code, TestApp, SERVICE},
};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;

const SEND: &str = "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }";

async fn with_smso() -> (FakeSmso, TestApp) {
    let fake = FakeSmso::start().await;
    let (app, _) = spawn_with_providers(
        vec![Provider {
            slug: "smso",
            kind: ProviderKind::Smso,
            base_url: fake.base_url(),
            sender: SENDER,
            credentials: json!({ "apiKey": KEY }),
            settings: json!({}),
            priority: 0,
        }],
        None,
    )
    .await;
    (fake, app)
}

/// How many stored messages go to `to`.
async fn stored_for(app: &TestApp, to: &str) -> usize {
    let answer = app
        .graphql(
            "query($to: String!) { messages(filter: { to: $to }, first: 100) { edges { node { id } } } }",
            json!({ "to": to }),
        )
        .await;
    answer["data"]["messages"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .len()
}

#[tokio::test]
async fn concurrent_sends_with_one_key_store_one_message_and_call_the_provider_once() {
    let (fake, app) = with_smso().await;
    let input = json!({ "to": "+40722111222", "body": "Codul tau: 424242", "type": "OTP",
                        "idempotencyKey": "checkout-7f3a" });
    // Twenty clients at once, each on its own connection, so they really race in the server.
    let answers = futures::future::join_all((0..20).map(|_| {
        let client = reqwest::Client::new();
        let url = app.url("/graphql");
        let body = json!({ "query": SEND, "variables": { "input": input } });
        async move {
            let answer: Value = client
                .post(url)
                .bearer_auth(crate::helpers::ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer
        }
    }))
    .await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            a["data"]["sendSms"]["message"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("every duplicate gets the message: {a}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids.into_iter().next().unwrap();

    app.wait_for_status(&id, "SENT").await;
    assert_eq!(stored_for(&app, "+40722111222").await, 1);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);

    // Later retries (a client that lost the answer) still name it and send nothing.
    let again = app.graphql(SEND, json!({ "input": input })).await;
    assert_eq!(
        again["data"]["sendSms"]["message"]["id"],
        id.as_str(),
        "{again}"
    );
    assert_eq!(stored_for(&app, "+40722111222").await, 1);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_a_conflict_and_stores_nothing() {
    let (fake, app) = with_smso().await;
    let first = app
        .send_sms(json!({ "to": "+40722111333", "body": "a", "idempotencyKey": "k-1" }))
        .await;
    let other = app
        .graphql(
            SEND,
            json!({ "input": { "to": "+40722111333", "body": "b", "idempotencyKey": "k-1" } }),
        )
        .await;
    assert_eq!(error_code(&other), "CONFLICT", "{other}");
    app.wait_for_status(first["id"].as_str().unwrap(), "SENT")
        .await;
    assert_eq!(stored_for(&app, "+40722111333").await, 1);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}

#[tokio::test]
async fn the_rest_send_and_graphql_share_keys() {
    let (fake, app) = with_smso().await;
    // Keys are scoped to their token: the same token over both.
    let answer = app
        .graphql_as(
            Some(SERVICE),
            "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }",
            json!({ "input": { "to": "+40722111444", "body": "Comanda 12", "type": "TRANSACTIONAL",
                               "idempotencyKey": "order-12" } }),
        )
        .await;
    let first = answer["data"]["sendSms"]["message"].clone();
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(
            &json!({ "phone_number": "+40722111444", "message": "Comanda 12",
                       "message_type": "transactional", "idempotency_key": "order-12" }),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], first["id"], "{body}");
    app.wait_for_status(first["id"].as_str().unwrap(), "SENT")
        .await;
    assert_eq!(stored_for(&app, "+40722111444").await, 1);
    assert_eq!(fake.journal.to_path("/api/v1/send").len(), 1);
}
