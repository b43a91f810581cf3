//! What a viewer reads of messages: recipients masked (+40755***456), in error texts too, and no
//! OTP codes, in queries and subscriptions alike; admins see everything. And the listing's
//! error-kind filter.

use crate::helpers::*;
use futures::StreamExt;
use serde_json::json;
use smsgate_actors::domain::Role;
use smsgate_actors::{domain::MessageStatus, ports::ProviderErrorKind};

const LIST: &str = r#"
    query List($filter: MessageFilter) {
        messages(filter: $filter, first: 50) {
            edges { node { id to body type status error { kind message } events { error { message } } } }
        }
    }"#;

fn nodes(data: &serde_json::Value) -> Vec<serde_json::Value> {
    data["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn a_viewer_reads_masked_recipients_and_no_otp_codes() {
    let api = spawn_api().await;
    let mut otp = send_input("0755123456", "Your code is 482913");
    otp["type"] = json!("OTP");
    let otp = api.send(otp).await;
    let plain = api
        .send(send_input("0755123456", "Your parcel is on its way"))
        .await;
    api.wait_for(&otp, MessageStatus::Delivered).await;
    api.wait_for(&plain, MessageStatus::Delivered).await;

    let viewer = data(api.execute(Some(Role::Viewer), LIST, json!({})).await);
    let seen = nodes(&viewer);
    assert_eq!(seen.len(), 2);
    for node in &seen {
        assert_eq!(node["to"], "+40755***456", "{node}");
        assert!(!node.to_string().contains("482913"), "{node}");
        assert!(!node.to_string().contains("+40755123456"), "{node}");
    }
    let otp_node = seen.iter().find(|n| n["id"] == otp.as_str()).unwrap();
    assert_eq!(otp_node["body"], "[OTP hidden]");
    let plain_node = seen.iter().find(|n| n["id"] == plain.as_str()).unwrap();
    assert_eq!(plain_node["body"], "Your parcel is on its way");

    let full = data(api.execute(Some(Role::Admin), LIST, json!({})).await);
    let full = nodes(&full);
    assert!(full.iter().all(|n| n["to"] == "+40755123456"));
    assert!(full.iter().any(|n| n["body"] == "Your code is 482913"));
    // A service token reads only what it sent (these were sent by the admin).
    let service = data(api.execute(Some(Role::Service), LIST, json!({})).await);
    assert!(nodes(&service).is_empty());
}

#[tokio::test]
async fn a_viewer_subscription_is_masked_too() {
    let api = spawn_api().await;
    let mut updates = api
        .subscribe(
            Role::Viewer,
            "subscription { messageUpdates { to body status } }",
            json!({}),
        )
        .await;
    let mut otp = send_input("0755123456", "Your code is 482913");
    otp["type"] = json!("OTP");
    api.send(otp).await;
    let first = data(next(&mut updates).await.unwrap());
    assert_eq!(first["messageUpdates"]["to"], "+40755***456");
    assert_eq!(first["messageUpdates"]["body"], "[OTP hidden]");
}

#[tokio::test]
async fn messages_filter_by_error_kind_and_error_texts_are_masked_for_viewers() {
    let api = spawn_api().await;
    api.mock()
        .push(smsgate_actors::test_support::Scripted::Fail(
            ProviderErrorKind::InvalidRecipient,
        ));
    let refused = api.send(send_input("0755123456", "refused")).await;
    api.wait_for(&refused, MessageStatus::Failed).await;
    let fine = api.send(send_input("0755000111", "fine")).await;
    api.wait_for(&fine, MessageStatus::Delivered).await;

    let by_kind = json!({ "filter": { "errorKind": "INVALID_RECIPIENT" } });
    let found = nodes(&api.admin(LIST, by_kind.clone()).await);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], refused.as_str());
    assert_eq!(found[0]["error"]["kind"], "INVALID_RECIPIENT");
    let none = json!({ "filter": { "errorKind": "TIMEOUT" } });
    assert!(nodes(&api.admin(LIST, none).await).is_empty());

    let as_viewer = data(api.execute(Some(Role::Viewer), LIST, by_kind).await);
    let text = as_viewer.to_string();
    assert!(!text.contains("+40755123456"), "{text}");
}

#[tokio::test]
async fn a_service_cannot_follow_a_message_another_token_sent() {
    let api = spawn_api().await;
    let id = api
        .send(send_input("0755123456", "sent by the admin"))
        .await;
    let response = api
        .schema
        .execute_stream(
            async_graphql::Request::new(
                "subscription($id: ID!) { messageUpdates(filter: { id: $id }) { id status } }",
            )
            .variables(async_graphql::Variables::from_json(json!({ "id": id })))
            .data(caller(Role::Service)),
        )
        .next()
        .await
        .unwrap();
    assert_eq!(error_code(&response).0, "NOT_FOUND");
    let own = api
        .execute(
            Some(Role::Service),
            SEND,
            json!({ "input": send_input("0755123456", "mine") }),
        )
        .await;
    let own = data(own)["sendSms"]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut follow = api.schema.execute_stream(
        async_graphql::Request::new(
            "subscription($id: ID!) { messageUpdates(filter: { id: $id }) { id status } }",
        )
        .variables(async_graphql::Variables::from_json(json!({ "id": own })))
        .data(caller(Role::Service)),
    );
    let first = data(next(&mut follow).await.unwrap());
    assert_eq!(first["messageUpdates"]["id"], own.as_str());
}
