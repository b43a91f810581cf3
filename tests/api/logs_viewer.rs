//! `GET /api/admin/sms/logs` for a viewer: recipients masked (+40755***456) and no OTP codes;
//! admins see everything. And the `error_kind` filter over real failures.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate::http::auth::Role;

async fn logs(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/admin/sms/logs{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn set_mock(app: &TestApp, settings: Value) {
    let response = app
        .client
        .put(app.url("/api/admin/sms/providers/mock"))
        .bearer_auth(ADMIN)
        .json(&json!({ "settings": settings }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test]
async fn viewers_read_masked_logs_and_logs_filter_by_error_kind() {
    let app = spawn_app().await;
    let viewer = app.create_token("dashboard", Role::Viewer).await;
    let otp = app
        .send_sms(json!({ "to": "0755123456", "body": "Your code is 482913", "type": "OTP" }))
        .await;
    let otp = otp["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&otp, "DELIVERED").await;

    set_mock(&app, json!({ "permanent_failure_rate": 1.0 })).await;
    let bad = app
        .send_sms(json!({ "to": "0755123457", "body": "never arrives" }))
        .await;
    let bad = bad["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&bad, "FAILED").await;

    let (status, seen) = logs(&app, &viewer, "").await;
    assert_eq!(status, 200, "{seen}");
    let text = seen.to_string();
    assert!(!text.contains("482913"), "no OTP code for a viewer: {text}");
    assert!(
        !text.contains("+40755123456") && !text.contains("+40755123457"),
        "{text}"
    );
    let by_id = |body: &Value, id: &str| -> Value {
        body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id(&seen, &otp)["phone_number"], "+40755***456");
    assert_eq!(by_id(&seen, &otp)["message"], "[OTP hidden]");
    assert_eq!(by_id(&seen, &bad)["phone_number"], "+40755***457");
    assert_eq!(by_id(&seen, &bad)["message"], "never arrives");

    let (_, full) = logs(&app, ADMIN, "").await;
    assert_eq!(by_id(&full, &otp)["phone_number"], "+40755123456");
    assert_eq!(by_id(&full, &otp)["message"], "Your code is 482913");

    let (status, failed) = logs(&app, ADMIN, "?error_kind=invalid_recipient").await;
    assert_eq!(status, 200, "{failed}");
    let ids: Vec<&str> = failed["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bad.as_str()]);
    let (_, none) = logs(&app, ADMIN, "?error_kind=TIMEOUT").await;
    assert_eq!(none["logs"], json!([]));
    let (status, refused) = logs(&app, ADMIN, "?error_kind=lost").await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "INVALID_INPUT");
}
