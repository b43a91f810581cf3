//! messageUpdates through `Schema::execute_stream`: subscribe first, then send, then each stored
//! status in order.

use crate::helpers::*;
use serde_json::json;
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::domain::Role;

const UPDATES: &str = r#"
    subscription Updates($filter: MessageUpdatesFilter) {
        messageUpdates(filter: $filter) { id status provider }
    }"#;

#[tokio::test]
async fn a_subscriber_sees_every_status_of_a_message_in_order() {
    let api = spawn_api().await;
    let mut updates = api
        .subscribe(
            Role::Admin,
            UPDATES,
            json!({ "filter": { "to": "0755 123 456" } }),
        )
        .await;
    let id = api.send(send_input("+40755123456", "hi")).await;
    // Another recipient's message must not show up.
    api.send(send_input("+40755999999", "not for this subscriber"))
        .await;

    for status in ["QUEUED", "SENDING", "SENT", "DELIVERED"] {
        let update = data(next(&mut updates).await.expect("the stream ended early"));
        assert_eq!(update["messageUpdates"]["id"], id.as_str());
        assert_eq!(update["messageUpdates"]["status"], status);
    }
}

/// Holding the provider's call keeps the message at SENDING, so the test decides when it moves.
#[tokio::test]
async fn following_one_message_starts_with_its_stored_state_and_ends_after_a_final_one() {
    let api = spawn_api().await;
    api.mock().hold();
    let id = api.send(send_input("+40755123456", "hi")).await;
    api.mock().wait_for_calls(1).await;

    let request = async_graphql::Request::new(UPDATES)
        .variables(async_graphql::Variables::from_json(
            json!({ "filter": { "id": id } }),
        ))
        .data(caller(Role::Viewer));
    let mut updates = api.schema.execute_stream(request);
    let snapshot = data(next(&mut updates).await.unwrap());
    assert_eq!(snapshot["messageUpdates"]["status"], "SENDING");

    api.mock().release(1);
    for status in ["SENT", "DELIVERED"] {
        let update = data(next(&mut updates).await.unwrap());
        assert_eq!(update["messageUpdates"]["status"], status);
    }
    assert!(next(&mut updates).await.is_none(), "the stream must end");
}

#[tokio::test]
async fn following_a_finished_message_yields_it_once_and_ends() {
    let api = spawn_api().await;
    let id = api.send(send_input("+40755123456", "hi")).await;
    api.wait_for(&id, MessageStatus::Delivered).await;

    let request = async_graphql::Request::new(UPDATES)
        .variables(async_graphql::Variables::from_json(
            json!({ "filter": { "id": id } }),
        ))
        .data(caller(Role::Admin));
    let mut updates = api.schema.execute_stream(request);
    let only = data(next(&mut updates).await.unwrap());
    assert_eq!(only["messageUpdates"]["status"], "DELIVERED");
    assert!(next(&mut updates).await.is_none());
}

#[tokio::test]
async fn subscription_errors_carry_codes() {
    let api = spawn_api().await;
    let cases = [
        (
            Some(Role::Admin),
            json!({ "filter": { "id": "msg_0192f5a0c0de7000800000000000abcd" } }),
            "NOT_FOUND",
        ),
        (
            Some(Role::Admin),
            json!({ "filter": { "to": "12" } }),
            "INVALID_INPUT",
        ),
        (
            Some(Role::Admin),
            json!({ "filter": { "status": "LOST" } }),
            "INVALID_INPUT",
        ),
        (None, json!({}), "UNAUTHENTICATED"),
    ];
    for (role, variables, code) in cases {
        let mut request = async_graphql::Request::new(UPDATES)
            .variables(async_graphql::Variables::from_json(variables.clone()));
        if let Some(role) = role {
            request = request.data(caller(role));
        }
        let mut stream = api.schema.execute_stream(request);
        let response = next(&mut stream).await.unwrap();
        assert_eq!(error_code(&response).0, code, "{variables}");
        assert!(next(&mut stream).await.is_none());
    }
}

#[tokio::test]
async fn an_error_kind_filter_sends_only_changes_carrying_that_error() {
    let api = spawn_api().await;
    let mut updates = api
        .subscribe(
            Role::Admin,
            UPDATES,
            json!({ "filter": { "errorKind": "INVALID_RECIPIENT" } }),
        )
        .await;
    // Every change of a message without an error is left out...
    let fine = api.send(send_input("+40755123456", "fine")).await;
    api.wait_for(&fine, MessageStatus::Delivered).await;
    // ...so the first change the subscriber sees is the refused message's failure.
    api.mock().fail_next(
        smsgate_actors::ports::ProviderErrorKind::InvalidRecipient,
        1,
    );
    let refused = api.send(send_input("+40755123457", "refused")).await;
    let update = data(next(&mut updates).await.expect("the failure is sent"));
    assert_eq!(update["messageUpdates"]["id"], refused.as_str());
    assert_eq!(update["messageUpdates"]["status"], "FAILED");
}
