//! A leaked token cannot pump SMS or read what others sent: every `sendSms` field is charged to
//! its token, each token reads only its own messages and idempotency keys, a spend ceiling
//! stops a token for the day, every message type has a per-recipient allowance, and only
//! admins read an OTP's text.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate::http::auth::Role;

const SEND: &str =
    "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id body } } }";

fn aliased_sends(count: usize) -> String {
    let fields: String = (0..count)
        .map(|i| {
            format!(
                "s{i}: sendSms(input: {{ to: \"+4075512{i:04}\", body: \"hi\" }}) {{ message {{ id }} }}\n"
            )
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

fn codes(answer: &Value) -> Vec<String> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn send_as(app: &TestApp, token: &str, input: Value) -> Value {
    app.graphql_as(Some(token), SEND, json!({ "input": input }))
        .await
}

async fn rest_send(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_aliased_send_is_charged_to_the_token_not_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        ("SMSGATE_RATE_LIMIT_PER_SECOND", "5"),
        ("SMSGATE_RATE_LIMIT_BURST", "5"),
    ];
    let app = spawn_app_in(dir, &limits).await;
    let answer = app
        .graphql_as(Some(SERVICE), &aliased_sends(20), json!({}))
        .await;
    let accepted = answer["data"]
        .as_object()
        .map_or(0, |data| data.values().filter(|v| !v.is_null()).count());
    let refused = codes(&answer);
    assert_eq!(accepted, 5, "the token's burst of 5 messages: {answer}");
    assert_eq!(refused.len(), 15);
    assert!(refused.iter().all(|c| c == "RATE_LIMITED"), "{refused:?}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("send rate"));

    // A REST send is one message too: the token has none left this second.
    let response = rest_send(
        &app,
        SERVICE,
        json!({ "phone_number": "0755123456", "message": "hi" }),
    )
    .await;
    assert_eq!(response.status(), 429);
    // Another token has its own allowance.
    let other = app.create_token("shop-b", Role::Service).await;
    let answer = send_as(&app, &other, json!({ "to": "0755123456", "body": "hi" })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn a_service_token_reads_only_the_messages_it_sent() {
    let app = spawn_app().await;
    let other = app.create_token("shop-b", Role::Service).await;
    let mine = send_as(&app, SERVICE, json!({ "to": "0755123456", "body": "a" })).await;
    let mine = mine["data"]["sendSms"]["message"]["id"].as_str().unwrap();
    let theirs = send_as(&app, &other, json!({ "to": "0755123456", "body": "b" })).await;
    let theirs = theirs["data"]["sendSms"]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = "{ messages { edges { node { id } } } }";
    let ids = |answer: Value| -> Vec<String> {
        answer["data"]["messages"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(app.graphql_as(Some(SERVICE), list, json!({})).await),
        [mine]
    );
    assert_eq!(
        ids(app.graphql_as(Some(&other), list, json!({})).await),
        std::slice::from_ref(&theirs)
    );
    assert_eq!(
        ids(app.graphql(list, json!({})).await).len(),
        2,
        "admins read all"
    );

    let one = "query($id: ID!) { message(id: $id) { id } }";
    let answer = app
        .graphql_as(Some(SERVICE), one, json!({ "id": theirs }))
        .await;
    assert_eq!(error_code(&answer), "NOT_FOUND");
    let status = app
        .client
        .get(app.internal_url(&format!("/internal/sms/status/{theirs}")))
        .bearer_auth(SERVICE)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 404);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_their_token() {
    let app = spawn_app().await;
    let other = app.create_token("shop-b", Role::Service).await;
    let input =
        |body: &str| json!({ "to": "0755123456", "body": body, "idempotencyKey": "order-1" });
    let first = send_as(&app, SERVICE, input("a")).await;
    let again = send_as(&app, SERVICE, input("a")).await;
    assert_eq!(
        first["data"]["sendSms"]["message"]["id"],
        again["data"]["sendSms"]["message"]["id"]
    );
    // Another token's same key is its own request: neither a CONFLICT nor the first message.
    let theirs = send_as(&app, &other, input("b")).await;
    assert!(theirs.get("errors").is_none(), "{theirs}");
    assert_ne!(
        theirs["data"]["sendSms"]["message"]["id"],
        first["data"]["sendSms"]["message"]["id"]
    );
}

#[tokio::test]
async fn only_admins_read_an_otp_text() {
    let app = spawn_app().await;
    let otp = json!({ "to": "0755123456", "body": "Codul tau este 482913", "type": "OTP" });
    let answer = send_as(&app, SERVICE, otp.clone()).await;
    let message = &answer["data"]["sendSms"]["message"];
    assert_eq!(message["body"], "[OTP hidden]", "{answer}");
    let id = message["id"].as_str().unwrap();
    let read = "query($id: ID!) { message(id: $id) { body } }";
    let as_service = app
        .graphql_as(Some(SERVICE), read, json!({ "id": id }))
        .await;
    assert_eq!(as_service["data"]["message"]["body"], "[OTP hidden]");
    let as_admin = app.graphql(read, json!({ "id": id })).await;
    assert_eq!(as_admin["data"]["message"]["body"], "Codul tau este 482913");

    let response = rest_send(
        &app,
        SERVICE,
        json!({ "phone_number": "0755123457", "message": "Codul tau este 482913", "message_type": "otp" }),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("482913"), "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = app
        .client
        .get(app.internal_url(&format!("/internal/sms/status/{id}")))
        .bearer_auth(SERVICE)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!status.contains("482913"), "{status}");
    app.wait_for_status(&id, "DELIVERED").await;
    let logs = smsgate::telemetry::captured_logs();
    assert!(logs.contains(&id), "the message's life was logged");
    assert!(!logs.contains("482913"), "the log holds an OTP code");
}

#[tokio::test]
async fn a_viewer_cannot_find_who_received_a_message_by_number() {
    let app = spawn_app().await;
    let viewer = app.create_token("dashboard", Role::Viewer).await;
    let answer = app
        .graphql_as(
            Some(&viewer),
            "{ messages(filter: { to: \"0755123456\" }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&answer), "FORBIDDEN");
    let response = app
        .client
        .get(app.url("/api/admin/sms/logs?phone_number=0755123456"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_token_stops_at_its_daily_spend_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    // The dev mock states 3.5 cents a part: 10 cents allow two one-part messages.
    let limits = [("SMSGATE_SPEND_LIMIT_PER_TOKEN_PER_DAY_CENTS", "10")];
    let app = spawn_app_in(dir, &limits).await;
    for i in 0..2 {
        let answer = send_as(
            &app,
            SERVICE,
            json!({ "to": format!("075512345{i}"), "body": "hi" }),
        )
        .await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let answer = send_as(&app, SERVICE, json!({ "to": "0755123459", "body": "hi" })).await;
    assert_eq!(error_code(&answer), "RATE_LIMITED");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("daily spend ceiling of 0.10 euro"),
        "{message}"
    );
    assert!(
        answer["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            <= 86_400
    );
    let other = app.create_token("shop-b", Role::Service).await;
    let answer = send_as(&app, &other, json!({ "to": "0755123459", "body": "hi" })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn transactional_and_marketing_have_a_per_recipient_allowance_by_default() {
    let app = spawn_app().await;
    for (message_type, allowed) in [("TRANSACTIONAL", 10), ("MARKETING", 2)] {
        for _ in 0..allowed {
            let answer = send_as(
                &app,
                SERVICE,
                json!({ "to": "0755123456", "body": "hi", "type": message_type }),
            )
            .await;
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        let answer = send_as(
            &app,
            SERVICE,
            json!({ "to": "0755123456", "body": "hi", "type": message_type }),
        )
        .await;
        assert_eq!(error_code(&answer), "RATE_LIMITED", "{message_type}");
        assert!(answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("recipient's allowance"));
    }
}
