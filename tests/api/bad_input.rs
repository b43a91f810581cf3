//! Bad input gets a clear error with the design's code, no panic, and nothing stored.

use crate::helpers::{error_code, spawn_app};
use serde_json::{json, Value};

async fn count_messages(app: &crate::helpers::TestApp) -> usize {
    let answer = app
        .graphql(
            "{ messages(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    answer["data"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn each_bad_send_is_refused_with_its_code_and_field_and_stores_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "to": "12", "body": "hi" }),
            "INVALID_INPUT",
            Some("to"),
        ),
        (
            json!({ "to": "0755123456", "body": "" }),
            "INVALID_INPUT",
            Some("body"),
        ),
        (
            json!({ "to": "0755123456", "body": "a".repeat(1531) }),
            "INVALID_INPUT",
            Some("body"),
        ),
        (
            json!({ "to": "0755123456", "body": "hi", "provider": "nope" }),
            "INVALID_INPUT",
            Some("provider"),
        ),
    ];
    for (input, code, field) in cases {
        let answer = app
            .graphql(
                "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(error_code(&answer), code, "{input} → {answer}");
        if let Some(field) = field {
            assert_eq!(
                answer["errors"][0]["extensions"]["field"], field,
                "{answer}"
            );
        }
    }
    assert_eq!(count_messages(&app).await, 0);
}

#[tokio::test]
async fn an_unknown_message_id_is_not_found() {
    let app = spawn_app().await;
    for id in ["msg_0192f5a0c0de7000800000000000abcd", "garbage"] {
        let answer = app
            .graphql(
                "query($id: ID!) { message(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(error_code(&answer), "NOT_FOUND", "{answer}");
    }
}

#[tokio::test]
async fn a_malformed_document_is_a_clear_error_not_a_crash() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(crate::helpers::ADMIN)
        .json(&json!({ "query": "mutation { sendSms(input: { to: " }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error() || response.status() == 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    // Not JSON at all.
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(crate::helpers::ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_and_a_json_body() {
    let app = spawn_app().await;
    let huge = "a".repeat(1024 * 1024 + 10);
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(crate::helpers::ADMIN)
        .json(&json!({ "query": "{ providers { slug } }", "variables": { "x": huge } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_INPUT", "{body}");
    assert_eq!(count_messages(&app).await, 0);
}

#[tokio::test]
async fn a_json_array_is_not_read_as_a_rest_send() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(crate::helpers::SERVICE)
        .json(&json!(["0755123456", "read as phone_number and message"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_INPUT", "{body}");
    assert_eq!(count_messages(&app).await, 0, "nothing was sent");
}
