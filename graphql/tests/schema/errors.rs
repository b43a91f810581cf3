//! Every error kind reaches the client with its contract code (and `field` for INVALID_INPUT).

use crate::helpers::*;
use serde_json::json;
use smsgate_actors::domain::Role;

async fn send_error(api: &TestApi, input: serde_json::Value) -> (String, Option<String>) {
    let response = api
        .execute(Some(Role::Admin), SEND, json!({ "input": input }))
        .await;
    error_code(&response)
}

#[tokio::test]
async fn a_refused_send_names_the_field_and_stores_nothing() {
    let api = spawn_api().await;
    let cases = [
        (send_input("not a number", "hi"), "to"),
        (send_input("+40 12", "hi"), "to"),
        (send_input("+40755123456", ""), "body"),
        (send_input("+40755123456", "   "), "body"),
        // 1531 GSM-7 characters need 11 parts; 10 are allowed.
        (
            send_input("+40755123456", &"a".repeat(153 * 10 + 1)),
            "body",
        ),
        (
            json!({ "to": "+40755123456", "body": "hi", "provider": "nosuch" }),
            "provider",
        ),
        (
            json!({ "to": "+40755123456", "body": "hi", "sender": "a sender far too long" }),
            "sender",
        ),
        (
            json!({ "to": "+40755123456", "body": "hi", "idempotencyKey": "" }),
            "idempotencyKey",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(
            send_error(&api, input.clone()).await,
            ("INVALID_INPUT".to_owned(), Some(field.to_owned())),
            "{input}"
        );
    }
    assert_eq!(api.store.message_count(), 0);
    assert_eq!(api.mock().call_count(), 0);
}

#[tokio::test]
async fn ten_parts_are_still_accepted() {
    let api = spawn_api().await;
    let data = api
        .admin(
            SEND,
            json!({ "input": send_input("+40755123456", &"a".repeat(153 * 10)) }),
        )
        .await;
    assert_eq!(data["sendSms"]["message"]["segments"], 10);
}

#[tokio::test]
async fn an_unknown_message_or_provider_is_not_found() {
    let api = spawn_api().await;
    for id in ["msg_0192f5a0c0de7000800000000000abcd", "nonsense"] {
        let response = api
            .execute(Some(Role::Admin), MESSAGE, json!({ "id": id }))
            .await;
        assert_eq!(error_code(&response).0, "NOT_FOUND", "{id}");
    }
    let response = api
        .execute(
            Some(Role::Admin),
            "query P($id: ID!) { provider(id: $id) { slug } }",
            json!({ "id": "prv_nosuch" }),
        )
        .await;
    assert_eq!(error_code(&response).0, "NOT_FOUND");
}

#[tokio::test]
async fn sending_without_any_provider_is_no_provider() {
    let api = spawn_api_without_providers().await;
    assert_eq!(
        send_error(&api, send_input("+40755123456", "hi")).await.0,
        "NO_PROVIDER"
    );
    assert_eq!(api.store.message_count(), 0);
}

#[tokio::test]
async fn a_store_outage_is_unavailable_and_hides_its_cause() {
    let api = spawn_api().await;
    api.store.set_failing(true);
    let response = api
        .execute(
            Some(Role::Admin),
            SEND,
            json!({ "input": send_input("+40755123456", "hi") }),
        )
        .await;
    assert_eq!(error_code(&response).0, "UNAVAILABLE");
    let message = &response.errors[0].message;
    assert!(message.contains("safe to retry"), "{message}");
    assert!(!message.contains("injected"), "the cause leaked: {message}");
}

#[tokio::test]
async fn bad_arguments_are_invalid_input() {
    let api = spawn_api().await;
    let cases = [
        (
            "query Q($f: MessageFilter) { messages(filter: $f) { edges { cursor } } }",
            json!({ "f": { "status": "LOST" } }),
            Some("status"),
        ),
        (
            r#"{ messages(filter: { status: LOST }) { edges { cursor } } }"#,
            json!({}),
            Some("status"),
        ),
        (
            "query Q($f: MessageFilter) { messages(filter: $f) { edges { cursor } } }",
            json!({ "f": { "createdFrom": "yesterday" } }),
            Some("createdFrom"),
        ),
        (
            r#"{ messages(filter: { createdFrom: "yesterday" }) { edges { cursor } } }"#,
            json!({}),
            Some("createdFrom"),
        ),
        (
            r#"{ messages(filter: { to: "12" }) { edges { cursor } } }"#,
            json!({}),
            Some("to"),
        ),
        (
            r#"{ messages(after: "not-a-cursor") { edges { cursor } } }"#,
            json!({}),
            Some("after"),
        ),
        (
            "{ messages(first: 101) { edges { cursor } } }",
            json!({}),
            Some("first"),
        ),
        (
            "{ messages(first: -1) { edges { cursor } } }",
            json!({}),
            Some("first"),
        ),
        (
            r#"{ statistics(from: "2026-11-24", to: "2026-11-01") { day } }"#,
            json!({}),
            Some("from"),
        ),
        (
            r#"{ statistics(from: "24.11.2026", to: "2026-11-30") { day } }"#,
            json!({}),
            Some("from"),
        ),
        ("{ messages { edges { cursor } ", json!({}), None),
        ("{ nope }", json!({}), None),
    ];
    for (query, variables, field) in cases {
        let response = api.execute(Some(Role::Admin), query, variables).await;
        let (code, got_field) = error_code(&response);
        assert_eq!(code, "INVALID_INPUT", "{query}: {:?}", response.errors);
        if let Some(field) = field {
            assert_eq!(
                got_field.as_deref(),
                Some(field),
                "{query}: {:?}",
                response.errors
            );
        }
    }
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused() {
    let api = spawn_api().await;
    let mut selection = "name".to_owned();
    for _ in 0..14 {
        selection = format!("ofType {{ {selection} }}");
    }
    let query = format!("{{ __schema {{ types {{ {selection} }} }} }}");
    let response = api.execute(Some(Role::Admin), &query, json!({})).await;
    assert!(!response.errors.is_empty());
    let ext = serde_json::to_value(&response.errors[0].extensions).unwrap();
    assert_eq!(ext["code"], "INVALID_INPUT", "{:?}", response.errors);
}
