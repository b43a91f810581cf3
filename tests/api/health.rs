//! /healthz, /readyz and /metrics answer without a token; /metrics only on the internal listener.

use crate::helpers::spawn_app;
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn metrics_are_served_on_the_internal_listener_only() {
    let app = spawn_app().await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let internal = app
        .client
        .get(app.internal_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), 200);
    assert!(internal.text().await.unwrap().contains("smsgate_"));
}

#[tokio::test]
async fn metrics_count_messages_by_provider_type_and_status() {
    let app = spawn_app().await;
    let m = app
        .send_sms(json!({ "to": "0755123456", "body": "count me", "type": "OTP" }))
        .await;
    app.wait_for_status(m["id"].as_str().unwrap(), "DELIVERED")
        .await;
    let text = app
        .client
        .get(app.internal_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let delivered = text
        .lines()
        .find(|l| {
            l.starts_with("smsgate_messages_total{")
                && l.contains("provider=\"mock\"")
                && l.contains("status=\"delivered\"")
                && l.contains("type=\"otp\"")
        })
        .unwrap_or_else(|| panic!("no delivered counter in:\n{text}"));
    assert!(delivered.ends_with(" 1"), "{delivered}");
    assert!(
        text.contains("smsgate_provider_request_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("smsgate_queue_depth"), "{text}");
}
