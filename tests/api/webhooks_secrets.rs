//! Webhook path secrets (SMSO, Vonage): made at creation, shown once, rotatable; a wrong or
//! missing one is a 404 that changes nothing. Vonage receipts must be signed in prod mode. And
//! the webhook routes' rate limits, per client address and per provider.

use crate::fakes::{
    self,
    smso::{FakeSmso, TOKEN},
    spawn_with_providers, spawn_with_providers_and_env,
    vonage::{self as fake_vonage, FakeVonage},
    Provider,
};
use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;

const PUBLIC: &str = "https://sms.example.com";

fn smso(fake: &FakeSmso) -> Provider {
    fake.provider(json!({ "status_poll": false }))
}

/// The code of a REST error answer (`{"error": {"code": ...}}`).
fn rest_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn receipt(status: &str) -> String {
    format!("uuid={TOKEN}&status={status}&sent_at=2024-05-01+12%3A30%3A09")
}

async fn post(app: &TestApp, path: &str, body: String) -> (u16, Value) {
    let answer = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_receipt_without_the_path_secret_or_with_a_wrong_one_is_404_and_changes_nothing() {
    let fake = FakeSmso::start().await;
    let (app, ids) = spawn_with_providers(vec![smso(&fake)], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;

    let id_only = format!("/webhooks/smso/{}", ids[0]);
    let wrong = format!("/webhooks/smso/{}/{}", ids[0], "0".repeat(64));
    let right = fakes::webhook_path("smso", &ids[0]);
    let truncated = &right[..right.len() - 1];
    for path in [id_only.as_str(), wrong.as_str(), truncated] {
        let (status, body) = post(&app, path, receipt("delivered")).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(rest_code(&body), "NOT_FOUND", "{body}");
    }
    assert_eq!(app.message(id).await["status"], "SENT");

    let (status, _) = post(&app, &right, receipt("delivered")).await;
    assert_eq!(status, 200);
    app.wait_for_status(id, "DELIVERED").await;
}

const PROVIDER_FIELDS: &str = "id kind webhookSecret webhookSecretSet webhookPath";

#[tokio::test]
async fn the_webhook_secret_is_shown_once_and_rotating_it_retires_the_old_url() {
    let app = spawn_app().await;
    let created = app
        .graphql(
            &format!("mutation($input: ProviderInput!) {{ createProvider(input: $input) {{ {PROVIDER_FIELDS} }} }}"),
            json!({ "input": {
                "name": "SMSO", "slug": "smso-hooks", "kind": "SMSO", "isActive": false,
                "credentials": { "apiKey": "k-0123456789" }
            }}),
        )
        .await;
    let created = &created["data"]["createProvider"];
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["webhookSecret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "256 bits as hex: {secret}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert_eq!(created["webhookSecretSet"], true);
    let path = format!("/webhooks/smso/{id}/{secret}");
    assert_eq!(created["webhookPath"], path.as_str());

    // Listed afterwards: only whether it is set.
    let listed = app
        .graphql(
            &format!("{{ providers {{ {PROVIDER_FIELDS} }} }}"),
            json!({}),
        )
        .await;
    let listed = listed["data"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["webhookSecret"], Value::Null);
    assert_eq!(listed["webhookPath"], Value::Null);
    assert_eq!(listed["webhookSecretSet"], true);
    assert!(!listed.to_string().contains(&secret));

    // An inactive provider takes no receipts; activated, its URL leads to the receipt parser.
    app.graphql(
        "mutation($id: ID!, $input: ProviderUpdateInput!) { updateProvider(id: $id, input: $input) { id } }",
        json!({ "id": id, "input": { "isActive": true } }),
    )
    .await;
    assert_eq!(post(&app, &path, "hello=world".into()).await.0, 400);

    let rotated = app
        .graphql(
            &format!(
                "mutation($id: ID!) {{ rotateWebhookSecret(id: $id) {{ {PROVIDER_FIELDS} }} }}"
            ),
            json!({ "id": id }),
        )
        .await;
    let rotated = &rotated["data"]["rotateWebhookSecret"];
    let new_secret = rotated["webhookSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let new_path = format!("/webhooks/smso/{id}/{new_secret}");
    assert_eq!(rotated["webhookPath"], new_path.as_str());
    assert_eq!(post(&app, &path, "hello=world".into()).await.0, 404);
    assert_eq!(post(&app, &new_path, "hello=world".into()).await.0, 400);

    let logs = smsgate::telemetry::captured_logs();
    assert!(
        logs.contains("webhook secret rotated"),
        "the log was captured"
    );
    assert!(
        !logs.contains(&secret) && !logs.contains(&new_secret),
        "a secret was logged"
    );
}

#[tokio::test]
async fn a_twilio_provider_has_no_webhook_secret_to_rotate() {
    let app = spawn_app().await;
    let created = app
        .graphql(
            "mutation($input: ProviderInput!) { createProvider(input: $input) { id webhookSecret webhookSecretSet webhookPath } }",
            json!({ "input": {
                "name": "Twilio", "slug": "tw-hooks", "kind": "TWILIO", "isActive": false,
                "credentials": { "accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "t-0123456789" }
            }}),
        )
        .await;
    let created = &created["data"]["createProvider"];
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["webhookSecret"], Value::Null);
    assert_eq!(created["webhookSecretSet"], false);
    assert_eq!(
        created["webhookPath"],
        format!("/webhooks/twilio/{id}").as_str()
    );
    let answer = app
        .graphql(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "INVALID_INPUT",
        "{answer}"
    );
}

fn vonage_unsigned(fake: &FakeVonage) -> Provider {
    Provider {
        slug: "vonage",
        kind: ProviderKind::Vonage,
        base_url: fake.base_url(),
        sender: fake_vonage::FROM,
        credentials: json!({ "apiKey": fake_vonage::KEY, "apiSecret": fake_vonage::SECRET }),
        settings: json!({}),
        priority: 0,
    }
}

/// In prod mode a Vonage receipt must carry Vonage's signature: without a signature secret,
/// the path secret alone does not make it trusted.
#[tokio::test]
async fn in_prod_mode_an_unsigned_vonage_receipt_is_refused() {
    let fake = FakeVonage::start().await;
    let (app, ids) = spawn_with_providers_and_env(
        vec![vonage_unsigned(&fake)],
        Some(PUBLIC),
        None,
        &[("SMSGATE_MODE", "prod")],
    )
    .await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    let dlr = fake_vonage::dlr(0, "delivered", Some(id), None, None);
    let answer = app
        .client
        .post(app.url(&fakes::webhook_path("vonage", &ids[0])))
        .form(&dlr)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(app.message(id).await["status"], "SENT");
}

/// Every request counts against its client's address (forged ones too); those that proved to
/// come from the provider count against the provider. Refused: 429 with Retry-After, nothing
/// changes.
#[tokio::test]
async fn webhook_requests_are_limited_per_client_address_and_per_provider() {
    let fake = FakeSmso::start().await;
    let (app, ids) = spawn_with_providers_and_env(
        vec![smso(&fake)],
        Some(PUBLIC),
        None,
        &[
            ("SMSGATE_WEBHOOK_RATE_LIMIT_PER_CLIENT", "1"),
            ("SMSGATE_WEBHOOK_RATE_LIMIT_PER_PROVIDER", "0"),
        ],
    )
    .await;
    let wrong = format!("/webhooks/smso/{}/{}", ids[0], "0".repeat(64));
    // A burst of two, then refused: the right URL too, from this address.
    assert_eq!(post(&app, &wrong, receipt("delivered")).await.0, 404);
    assert_eq!(post(&app, &wrong, receipt("delivered")).await.0, 404);
    let right = fakes::webhook_path("smso", &ids[0]);
    let answer = app
        .client
        .post(app.url(&right))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(receipt("delivered"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 429);
    assert!(answer.headers().get("retry-after").is_some());
    let body: Value = answer.json().await.unwrap();
    assert_eq!(rest_code(&body), "RATE_LIMITED", "{body}");
    app.stop().await;

    let (app, ids) = spawn_with_providers_and_env(
        vec![smso(&fake)],
        Some(PUBLIC),
        None,
        &[
            ("SMSGATE_WEBHOOK_RATE_LIMIT_PER_CLIENT", "0"),
            ("SMSGATE_WEBHOOK_RATE_LIMIT_PER_PROVIDER", "1"),
        ],
    )
    .await;
    // Forgeries do not use the provider's budget up...
    let wrong = format!("/webhooks/smso/{}/{}", ids[0], "0".repeat(64));
    for _ in 0..5 {
        assert_eq!(post(&app, &wrong, receipt("delivered")).await.0, 404);
    }
    // ...its own receipts do: a burst of two, then 429.
    let right = fakes::webhook_path("smso", &ids[0]);
    assert_eq!(post(&app, &right, receipt("sent")).await.0, 200);
    assert_eq!(post(&app, &right, receipt("sent")).await.0, 200);
    let (status, body) = post(&app, &right, receipt("sent")).await;
    assert_eq!(status, 429);
    assert_eq!(rest_code(&body), "RATE_LIMITED", "{body}");
}
