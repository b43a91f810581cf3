//! sendSms through the mock provider, end to end.

use crate::helpers::spawn_app;
use serde_json::json;

#[tokio::test]
async fn send_sms_is_accepted_as_queued_and_reaches_delivered_through_the_mock() {
    let app = spawn_app().await;
    let sent = app
        .send_sms(json!({ "to": "0755123456", "body": "Codul tau este 123456", "type": "OTP" }))
        .await;
    assert_eq!(sent["status"], "QUEUED");
    assert_eq!(sent["to"], "+40755123456");
    assert_eq!(sent["type"], "OTP");
    assert_eq!(sent["encoding"], "GSM7");
    assert_eq!(sent["segments"], 1);

    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "DELIVERED").await;
    let stored = app.message(id).await;
    assert_eq!(stored["status"], "DELIVERED");
    assert_eq!(stored["provider"], "mock");
    assert_eq!(stored["attempts"], 1);
    assert!(stored["providerMessageId"]
        .as_str()
        .unwrap()
        .starts_with("mock-"));
    assert!(stored["cost"].as_f64().unwrap() > 0.0);
    assert!(stored["sentAt"].is_string() && stored["deliveredAt"].is_string());
    let statuses: Vec<_> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "SENDING", "SENT", "DELIVERED"]);
}

#[tokio::test]
async fn romanian_diacritics_switch_to_ucs2_and_more_parts() {
    let app = spawn_app().await;
    let body = format!("{}ă", "a".repeat(149));
    let sent = app
        .send_sms(json!({ "to": "0755123456", "body": body }))
        .await;
    assert_eq!(sent["encoding"], "UCS2");
    assert_eq!(sent["segments"], 3);
}

#[tokio::test]
async fn providers_lists_the_mock_as_the_default_without_secrets() {
    let app = spawn_app().await;
    let answer = app
        .graphql(
            "{ providers { slug kind isActive isDefault apiKeyHint health { circuit running } } }",
            json!({}),
        )
        .await;
    let providers = answer["data"]["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1, "{answer}");
    assert_eq!(providers[0]["slug"], "mock");
    assert_eq!(providers[0]["kind"], "MOCK");
    assert_eq!(providers[0]["isDefault"], true);
    assert_eq!(providers[0]["health"]["running"], true);
    assert_eq!(providers[0]["health"]["circuit"], "CLOSED");
}
