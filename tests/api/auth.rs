//! Tokens: no or a wrong token gets 401 with a JSON body; roles limit what a token may do.

use crate::helpers::{error_code, spawn_app, SERVICE};
use serde_json::{json, Value};

#[tokio::test]
async fn a_request_without_a_token_gets_401_with_a_json_body() {
    let app = spawn_app().await;
    for token in [None, Some("wrong-token")] {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": "{ providers { slug } }" }));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{body}");
    }
}

#[tokio::test]
async fn the_service_token_may_send_but_not_administer() {
    let app = spawn_app().await;
    let sent = app
        .graphql_as(
            Some(SERVICE),
            r#"mutation { sendSms(input: { to: "0755123456", body: "hi" }) { message { status } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        sent["data"]["sendSms"]["message"]["status"], "QUEUED",
        "{sent}"
    );
    let stats = app
        .graphql_as(
            Some(SERVICE),
            r#"{ statistics(from: "2026-01-01", to: "2026-01-02") { day } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&stats), "FORBIDDEN");
}
