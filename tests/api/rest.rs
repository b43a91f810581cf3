//! The seed's internal REST routes over the same engine, on the internal listener only.

use crate::helpers::{spawn_app, SERVICE};
use serde_json::{json, Value};

#[tokio::test]
async fn internal_send_answers_202_with_the_stored_message_and_status_follows_it() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "0755123456", "message": "Comanda ta a fost expediata", "message_type": "transactional" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["phone_number"], "+40755123456");
    assert_eq!(body["message_type"], "transactional");
    let id = body["id"].as_str().unwrap();
    app.wait_for_status(id, "DELIVERED").await;

    let status: Value = app
        .client
        .get(app.internal_url(&format!("/internal/sms/status/{id}")))
        .bearer_auth(SERVICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "delivered", "{status}");
    assert!(status["response_token"].is_string());
}

#[tokio::test]
async fn internal_routes_are_not_served_on_the_public_listener() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "0755123456", "message": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn internal_send_refuses_bad_input_with_a_json_error() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "abc", "message": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_INPUT");
    assert_eq!(body["error"]["field"], "phone_number");
}
