//! Provider administration mutations: the flow an admin drives, their error codes, and that no
//! other role may use them.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate_actors::domain::Role;

const CREATE: &str = r#"mutation C($input: ProviderInput!) {
    createProvider(input: $input) { id slug kind isActive isDefault priority apiKeyHint senderId health { running } } }"#;
const UPDATE: &str = r#"mutation U($id: ID!, $input: ProviderUpdateInput!) {
    updateProvider(id: $id, input: $input) { id isActive priority apiKeyHint senderId health { running } } }"#;
const ACTIVATE: &str =
    "mutation A($id: ID!) { activateProvider(id: $id) { id isDefault isActive } }";
const DELETE: &str = "mutation D($id: ID!) { deleteProvider(id: $id) }";
const TEST_SMS: &str = r#"mutation T($id: ID!) {
    sendTestSms(providerId: $id, to: "0755123456", body: "test") { status provider } }"#;

fn smso_input(slug: &str, api_key: &str) -> Value {
    json!({
        "name": "SMSO", "slug": slug, "kind": "SMSO", "senderId": "Shop",
        "credentials": { "apiKey": api_key }, "settings": { "max_concurrency": 4 }
    })
}

#[tokio::test]
async fn an_admin_creates_updates_activates_tests_and_deletes_a_provider() {
    let api = spawn_api().await;
    api.factory.register("smso");
    let created = api
        .admin(
            CREATE,
            json!({ "input": smso_input("smso", "sk-0123456789ab3f9a") }),
        )
        .await["createProvider"]
        .clone();
    assert_eq!(created["kind"], "SMSO");
    assert_eq!(created["isDefault"], false);
    assert_eq!(created["priority"], 100);
    assert_eq!(created["apiKeyHint"], "****3f9a");
    assert_eq!(created["health"]["running"], true);
    let id = created["id"].as_str().unwrap().to_owned();

    let updated = api
        .admin(
            UPDATE,
            json!({ "id": id, "input": { "priority": 3, "senderId": null,
                    "credentials": { "apiKey": "sk-9876543210ab7e7e" } } }),
        )
        .await["updateProvider"]
        .clone();
    assert_eq!(updated["priority"], 3);
    assert_eq!(updated["apiKeyHint"], "****7e7e");
    assert!(updated["senderId"].is_null());

    let tested = api.admin(TEST_SMS, json!({ "id": id })).await["sendTestSms"].clone();
    assert_eq!(tested, json!({ "status": "DELIVERED", "provider": "smso" }));

    let activated = api.admin(ACTIVATE, json!({ "id": id })).await["activateProvider"].clone();
    assert_eq!(activated["isDefault"], true);
    let listed = api
        .admin("{ providers { slug isDefault } }", json!({}))
        .await;
    assert_eq!(
        listed["providers"],
        json!([{ "slug": "smso", "isDefault": true }, { "slug": "mock", "isDefault": false }])
    );

    let mock_id = api
        .admin("{ provider(id: \"mock\") { id } }", json!({}))
        .await["provider"]["id"]
        .clone();
    assert_eq!(
        api.admin(DELETE, json!({ "id": mock_id })).await["deleteProvider"],
        mock_id
    );
    let listed = api.admin("{ providers { slug } }", json!({})).await;
    assert_eq!(listed["providers"], json!([{ "slug": "smso" }]));
}

#[tokio::test]
async fn admin_mutations_report_each_error_with_its_code_and_field() {
    let api = spawn_api().await;
    type Case = (&'static str, Value, (&'static str, Option<&'static str>));
    let cases: Vec<Case> = vec![
        (
            CREATE,
            json!({ "input": smso_input("Bad Slug", "k") }),
            ("INVALID_INPUT", Some("slug")),
        ),
        (
            CREATE,
            json!({ "input": { "name": "T", "slug": "tw", "kind": "TWILIO", "credentials": { "accountSid": "AC1" } } }),
            ("INVALID_INPUT", Some("credentials.authToken")),
        ),
        (
            CREATE,
            json!({ "input": { "name": "M", "slug": "mock", "kind": "MOCK" } }),
            ("CONFLICT", None),
        ),
        (
            UPDATE,
            json!({ "id": "prv_00000000000000000000000000000000", "input": {} }),
            ("NOT_FOUND", None),
        ),
        (ACTIVATE, json!({ "id": "nope" }), ("NOT_FOUND", None)),
        (DELETE, json!({ "id": "nope" }), ("NOT_FOUND", None)),
    ];
    for (query, vars, (code, field)) in cases {
        let response = api.execute(Some(Role::Admin), query, vars.clone()).await;
        let (got, got_field) = error_code(&response);
        assert_eq!(
            (got.as_str(), got_field.as_deref()),
            (code, field),
            "{vars}"
        );
    }
}

#[tokio::test]
async fn only_admins_may_manage_providers() {
    let api = spawn_api().await;
    let id = api
        .admin("{ provider(id: \"mock\") { id } }", json!({}))
        .await["provider"]["id"]
        .clone();
    let operations = [
        (CREATE, json!({ "input": smso_input("x", "k") })),
        (UPDATE, json!({ "id": id, "input": { "priority": 1 } })),
        (ACTIVATE, json!({ "id": id })),
        (DELETE, json!({ "id": id })),
        (TEST_SMS, json!({ "id": id })),
    ];
    for (query, vars) in &operations {
        for (role, expected) in [
            (Some(Role::Service), "FORBIDDEN"),
            (Some(Role::Viewer), "FORBIDDEN"),
            (None, "UNAUTHENTICATED"),
        ] {
            let response = api.execute(role, query, vars.clone()).await;
            assert_eq!(error_code(&response).0, expected, "{role:?} {query}");
        }
    }
    assert!(api.mock().calls().is_empty(), "no test SMS went out");
    let still = api
        .admin("{ providers { slug priority } }", json!({}))
        .await;
    assert_eq!(
        still["providers"],
        json!([{ "slug": "mock", "priority": 0 }])
    );
}
