//! providers and provider: configuration and health, never a credential.

use crate::helpers::*;
use serde_json::json;

const PROVIDER_FIELDS: &str = r#"
    id name slug kind isActive isDefault priority features senderId apiBaseUrl apiKeyHint
    health { circuit outOfCredit consecutiveFailures running inFlight }
    balance createdAt updatedAt"#;

#[tokio::test]
async fn providers_lists_each_with_its_health() {
    let api = spawn_api_with(&["mock", "backup"]).await;
    let data = api
        .admin(
            &format!("{{ providers {{ {PROVIDER_FIELDS} }} }}"),
            json!({}),
        )
        .await;
    let providers = data["providers"].as_array().unwrap();
    let mock = providers.iter().find(|p| p["slug"] == "mock").unwrap();
    assert_eq!(mock["kind"], "MOCK");
    assert_eq!(mock["isDefault"], true);
    assert_eq!(mock["isActive"], true);
    assert_eq!(
        mock["health"],
        json!({ "circuit": "CLOSED", "outOfCredit": false, "consecutiveFailures": 0, "running": true, "inFlight": 0 })
    );
    assert!(mock["balance"].is_null());
    let backup = providers.iter().find(|p| p["slug"] == "backup").unwrap();
    assert_eq!(backup["isDefault"], false);
    assert_eq!(backup["priority"], 1);
}

#[tokio::test]
async fn a_provider_is_found_by_id_or_slug() {
    let api = spawn_api().await;
    let data = api.admin("{ providers { id } }", json!({})).await;
    let id = data["providers"][0]["id"].as_str().unwrap().to_owned();
    let query = "query P($id: ID!) { provider(id: $id) { id slug } }";
    for key in [id.as_str(), "mock"] {
        let data = api.admin(query, json!({ "id": key })).await;
        assert_eq!(data["provider"]["id"], id.as_str());
        assert_eq!(data["provider"]["slug"], "mock");
    }
}

const FIELD_NAMES: &str = r#"
    { __schema { types { name fields { name } inputFields { name } } } }"#;

/// Outputs never carry a secret; the only inputs that take one are the provider inputs'
/// `credentials`, which are sealed before they are stored. The one exception is a provider's
/// own webhook path secret, which smsgate makes: shown once, in the answer of the mutation that
/// made it (`createProvider`, `rotateWebhookSecret`), null in every other answer.
#[tokio::test]
async fn no_field_of_the_schema_can_carry_credentials() {
    let api = spawn_api().await;
    let data = api.admin(FIELD_NAMES, json!({})).await;
    let allowed_inputs = [
        ("ProviderInput", "credentials"),
        ("ProviderUpdateInput", "credentials"),
        ("Provider", "webhookSecret"),
        ("Provider", "webhookSecretSet"),
        ("Mutation", "rotateWebhookSecret"),
    ];
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let type_name = ty["name"].as_str().unwrap();
        let fields = [&ty["fields"], &ty["inputFields"]];
        for field in fields.iter().filter_map(|f| f.as_array()).flatten() {
            let raw = field["name"].as_str().unwrap();
            if allowed_inputs.contains(&(type_name, raw)) {
                continue;
            }
            let name = raw.to_lowercase();
            for secret in ["credential", "secret", "password", "token"] {
                assert!(
                    !name.contains(secret),
                    "{type_name}.{name} may carry a secret"
                );
            }
            assert!(
                name == "apikeyhint" || !name.contains("apikey"),
                "{type_name}.{name} may carry a key"
            );
        }
    }
}
