//! A provider secret never leaves in plaintext: not in any API answer, error or log line, and not
//! in the store's files.

use crate::helpers::*;
use serde_json::json;

const SECRET: &str = "sk-live-LEAKCANARY-0123456789ab3f9a";

#[tokio::test]
async fn a_known_secret_appears_in_no_answer_log_or_stored_file() {
    let app = spawn_app().await;
    let mut answers = Vec::new();
    let create = r#"mutation($input: ProviderInput!) { createProvider(input: $input) {
        id slug apiKeyHint health { running } } }"#;
    let created = app
        .graphql(
            create,
            json!({ "input": { "name": "SMSO", "slug": "smso", "kind": "SMSO",
                "credentials": { "apiKey": SECRET } } }),
        )
        .await;
    assert_eq!(
        created["data"]["createProvider"]["apiKeyHint"], "****3f9a",
        "{created}"
    );
    let id = created["data"]["createProvider"]["id"].clone();
    answers.push(created);
    // Errors that echo input: a bad slug, a taken slug, a wrong shape, an unknown key.
    for input in [
        json!({ "name": "x", "slug": "Bad Slug", "kind": "SMSO", "credentials": { "apiKey": SECRET } }),
        json!({ "name": "x", "slug": "smso", "kind": "SMSO", "credentials": { "apiKey": SECRET } }),
        json!({ "name": "x", "slug": "tw", "kind": "TWILIO", "credentials": { "authToken": SECRET } }),
        json!({ "name": "x", "slug": "s2", "kind": "SMSO", "credentials": { "apiKey": SECRET, SECRET: SECRET } }),
        json!({ "name": "x", "slug": "m2", "kind": "MOCK", "credentials": { "apiKey": SECRET } }),
    ] {
        let answer = app.graphql(create, json!({ "input": input })).await;
        assert!(answer.get("errors").is_some(), "{answer}");
        answers.push(answer);
    }
    answers.push(
        app.graphql(
            "mutation($id: ID!, $input: ProviderUpdateInput!) { updateProvider(id: $id, input: $input) { apiKeyHint } }",
            json!({ "id": id, "input": { "priority": 2, "credentials": { "apiKey": SECRET } } }),
        )
        .await,
    );
    answers.push(
        app.graphql(
            "{ providers { id name slug kind apiKeyHint settings: apiBaseUrl health { running } } }",
            json!({}),
        )
        .await,
    );
    // REST: a change carrying the secret (snake_case key) and a bad one, then the listing.
    let mut rest = String::new();
    for body in [
        json!({ "credentials": { "api_key": SECRET } }),
        json!({ "credentials": { "api_key": SECRET, SECRET: SECRET } }),
    ] {
        let response = app
            .client
            .put(app.url("/api/admin/sms/providers/smso"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        rest.push_str(&response.text().await.unwrap());
    }
    let listing = app
        .client
        .get(app.url("/api/admin/sms/providers"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200, "the REST route is real");
    let listing = listing.text().await.unwrap();
    assert!(
        listing.contains("\"api_key_hint\":\"****3f9a\""),
        "{listing}"
    );
    rest.push_str(&listing);

    for answer in &answers {
        assert!(
            !answer.to_string().contains(SECRET),
            "answer leaks: {answer}"
        );
    }
    assert!(!rest.contains(SECRET), "REST leaks: {rest}");
    let logs = smsgate::telemetry::captured_logs();
    assert!(logs.contains("provider created"), "the log was captured");
    assert!(!logs.contains(SECRET), "the log leaks the secret");
    let dir = app.stop().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            path.display()
        );
    }
}
