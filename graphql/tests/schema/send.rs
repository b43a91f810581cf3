//! sendSms: accepted as QUEUED, then delivered; idempotency keys.

use crate::helpers::*;
use serde_json::json;
use smsgate_actors::domain::MessageStatus;

#[tokio::test]
async fn send_sms_answers_queued_and_the_message_is_then_delivered() {
    let api = spawn_api().await;
    let data = api
        .admin(
            SEND,
            json!({ "input": { "to": "0755 123 456", "body": "Codul tau: 1234" } }),
        )
        .await;
    let sent = &data["sendSms"]["message"];
    assert_eq!(sent["status"], "QUEUED");
    assert_eq!(sent["to"], "+40755123456");
    assert_eq!(sent["type"], "TRANSACTIONAL");
    assert_eq!(sent["encoding"], "GSM7");
    assert_eq!(sent["segments"], 1);

    let id = sent["id"].as_str().unwrap();
    api.wait_for(id, MessageStatus::Delivered).await;

    let message = api.message(id).await;
    assert_eq!(message["status"], "DELIVERED");
    assert_eq!(message["provider"], "mock");
    assert_eq!(message["cost"], 1.0);
    assert_eq!(message["attempts"], 1);
    assert!(message["providerMessageId"].is_string());
    assert!(message["error"].is_null());
    for time in ["createdAt", "sentAt", "deliveredAt", "expiresAt"] {
        let raw = message[time]
            .as_str()
            .unwrap_or_else(|| panic!("{time} is null"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(raw).is_ok(),
            "{time} = {raw} is not RFC 3339"
        );
    }
    let statuses: Vec<&str> = message["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "SENDING", "SENT", "DELIVERED"]);
}

#[tokio::test]
async fn a_body_outside_gsm7_is_sent_as_ucs2_and_counts_its_parts() {
    let api = spawn_api().await;
    let data = api
        .admin(
            SEND,
            json!({ "input": { "to": "+40755123456", "body": "ă".repeat(71), "type": "OTP" } }),
        )
        .await;
    let sent = &data["sendSms"]["message"];
    assert_eq!(sent["encoding"], "UCS2");
    assert_eq!(sent["segments"], 2);
    assert_eq!(sent["type"], "OTP");
}

#[tokio::test]
async fn the_same_idempotency_key_and_request_return_the_first_message() {
    let api = spawn_api().await;
    let input = json!({ "to": "+40755123456", "body": "Comanda 17 a plecat", "idempotencyKey": "order-17" });
    let first = api.send(input.clone()).await;
    api.wait_for(&first, MessageStatus::Delivered).await;

    let again = api.admin(SEND, json!({ "input": input })).await;
    assert_eq!(again["sendSms"]["message"]["id"], first.as_str());
    assert_eq!(again["sendSms"]["message"]["status"], "DELIVERED");
    assert_eq!(api.mock().call_count(), 1, "the retry must not send again");
    assert_eq!(api.store.message_count(), 1);
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_body_is_a_conflict() {
    let api = spawn_api().await;
    api.send(json!({ "to": "+40755123456", "body": "first", "idempotencyKey": "k-1" }))
        .await;
    let response = api
        .execute(
            Some(smsgate_actors::domain::Role::Admin),
            SEND,
            json!({ "input": { "to": "+40755123456", "body": "second", "idempotencyKey": "k-1" } }),
        )
        .await;
    assert_eq!(error_code(&response).0, "CONFLICT");
    assert_eq!(api.store.message_count(), 1);
}
