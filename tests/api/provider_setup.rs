//! Providers set up the two ways an operator can: `[[providers]]` in smsgate.toml (created at
//! start-up, sealed, left alone once stored) and the `createProvider` mutation; then a send
//! through each, asserted on the fake's recorded request.

use crate::{
    fakes::{smso, vonage},
    helpers::{spawn_app, spawn_app_with_file},
};
use serde_json::json;
use std::path::Path;

const PROVIDERS: &str =
    "{ providers { name slug kind isDefault isActive priority apiKeyHint senderId } }";

/// Whether any file under `dir` holds `needle` as plain bytes.
fn any_file_contains(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            return any_file_contains(&path, needle);
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[tokio::test]
async fn a_provider_declared_in_the_config_file_is_created_sealed_and_sends() {
    let fake = smso::FakeSmso::start().await;
    let file = |name: &str| {
        format!(
            r#"
            [[providers]]
            name = "{name}"
            slug = "smso"
            kind = "SMSO"
            api_base_url = "{}"
            sender_id = "{}"
            credentials = {{ apiKey = "{}" }}
            settings = {{ status_poll = false }}
            "#,
            fake.base_url(),
            smso::SENDER,
            smso::KEY
        )
    };
    let key = smsgate::secrets::Keyring::generate_key();
    let env = [("SMSGATE_ENCRYPTION_KEYS", key.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with_file(dir, Some(&file("SMSO.ro")), &env).await;

    let answer = app.graphql(PROVIDERS, json!({})).await;
    assert_eq!(
        answer["data"]["providers"],
        json!([{ "name": "SMSO.ro", "slug": "smso", "kind": "SMSO", "isDefault": true,
                 "isActive": true, "priority": 100, "apiKeyHint": "****1234", "senderId": "4" }]),
        "declared in place of the dev mock: {answer}"
    );
    assert!(!answer.to_string().contains(smso::KEY));

    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "from the file" }))
        .await;
    app.wait_for_status(sent["id"].as_str().unwrap(), "SENT")
        .await;
    let sends = fake.journal.to_path("/api/v1/send");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].header("x-authorization"), Some(smso::KEY));

    // Sealed at rest: the key is nowhere in the data dir in plain text.
    let dir = app.stop().await;
    assert!(!any_file_contains(dir.path(), smso::KEY));

    // Started again with an edited table: the stored provider wins, nothing is added.
    let app = spawn_app_with_file(dir, Some(&file("Renamed")), &env).await;
    let answer = app.graphql(PROVIDERS, json!({})).await;
    let providers = answer["data"]["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1, "{answer}");
    assert_eq!(providers[0]["name"], "SMSO.ro");
}

#[tokio::test]
async fn a_provider_created_through_graphql_sends_with_its_sealed_credentials() {
    let fake = vonage::FakeVonage::start().await;
    let app = spawn_app().await;
    let created = app
        .graphql(
            "mutation($input: ProviderInput!) { createProvider(input: $input) { id slug kind apiKeyHint } }",
            json!({ "input": {
                "name": "Vonage", "slug": "vonage", "kind": "VONAGE",
                "apiBaseUrl": fake.base_url(), "senderId": vonage::FROM,
                "credentials": { "apiKey": vonage::KEY, "apiSecret": vonage::SECRET },
            }}),
        )
        .await;
    assert!(created.get("errors").is_none(), "{created}");
    assert_eq!(created["data"]["createProvider"]["kind"], "VONAGE");
    assert!(!created.to_string().contains(vonage::SECRET), "{created}");

    // The dev mock stays the default: pin the new provider.
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "via GraphQL", "provider": "vonage" }))
        .await;
    app.wait_for_status(sent["id"].as_str().unwrap(), "SENT")
        .await;
    let sends = fake.journal.to_path("/sms/json");
    assert_eq!(sends.len(), 1);
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        vonage::KEY,
        vonage::SECRET
    ));
    assert_eq!(
        sends[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let dir = app.stop().await;
    assert!(!any_file_contains(dir.path(), vonage::SECRET));
}
