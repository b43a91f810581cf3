//! The audit log end to end: each admin action made through GraphQL and REST is recorded with
//! who did it and the change (secrets only as hints), readable by admins through `auditLog`,
//! and the chain verifies until a stored entry is tampered with.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate::{audit::AuditLog, http::auth::Role, store::EmbeddedStore};
use std::sync::Arc;

const SECRET: &str = "sk-audit-secret-0000abcd";

async fn audit_log(
    app: &TestApp,
    token: &str,
    filter: Value,
    first: i32,
    after: Option<&str>,
) -> Value {
    app.graphql_as(
        Some(token),
        "query($f: AuditFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) {
            edges { cursor node { seq at actor action target before after hash } } pageInfo { hasNextPage endCursor } } }",
        json!({ "f": filter, "first": first, "after": after }),
    )
    .await
}

#[tokio::test]
async fn every_admin_action_is_recorded_with_who_and_what_and_the_chain_verifies() {
    let app = spawn_app().await;
    let created = app
        .graphql(
            r#"mutation($c: JSON!) { createProvider(input: {name: "SMSO", slug: "smso", kind: SMSO, isActive: false, credentials: $c}) { id } }"#,
            json!({ "c": { "apiKey": SECRET } }),
        )
        .await;
    let id = created["data"]["createProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ops = app
        .graphql(
            r#"mutation($id: ID!) { updateProvider(id: $id, input: {priority: 3}) { id } }"#,
            json!({ "id": id }),
        )
        .await;
    assert!(ops.get("errors").is_none(), "{ops}");
    app.graphql(
        r#"mutation { sendTestSms(providerId: "mock", to: "0755123456", body: "t") { id } }"#,
        json!({}),
    )
    .await;
    let ops_token = app.create_token("ops-bot", Role::Admin).await;
    let rest = |method: reqwest::Method, path: String, body: Option<Value>| {
        let app = &app;
        let token = ops_token.clone();
        async move {
            let mut request = app
                .client
                .request(method, app.url(&path))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            assert_eq!(request.send().await.unwrap().status(), 200, "{path}");
        }
    };
    rest(
        reqwest::Method::PUT,
        format!("/api/admin/sms/providers/{id}"),
        Some(json!({ "credentials": { "api_key": SECRET } })),
    )
    .await;
    rest(
        reqwest::Method::POST,
        format!("/api/admin/sms/providers/{id}/activate"),
        None,
    )
    .await;
    rest(
        reqwest::Method::POST,
        "/api/admin/sms/providers/mock/test".into(),
        Some(json!({ "phone_number": "0755123456" })),
    )
    .await;
    app.graphql(
        r#"mutation { activateProvider(id: "mock") { id } }"#,
        json!({}),
    )
    .await;
    let deleted = app
        .graphql(
            r#"mutation($id: ID!) { deleteProvider(id: $id) }"#,
            json!({ "id": id }),
        )
        .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");

    let answer = audit_log(&app, ADMIN, json!(null), 50, None).await;
    assert!(
        !answer.to_string().contains(SECRET),
        "the audit log leaks the secret: {answer}"
    );
    let edges = answer["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    let seen: Vec<(String, String)> = edges
        .iter()
        .rev()
        .map(|e| {
            (
                e["node"]["actor"].as_str().unwrap().to_owned(),
                e["node"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("admin", "provider.created"),
        ("admin", "provider.updated"),
        ("admin", "provider.test_sms"),
        ("ops-bot", "provider.updated"),
        ("ops-bot", "provider.activated"),
        ("ops-bot", "provider.test_sms"),
        ("admin", "provider.activated"),
        ("admin", "provider.deleted"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, expected);
    let update = &edges[6]["node"];
    assert_eq!(
        (
            update["before"]["priority"].clone(),
            update["after"]["priority"].clone()
        ),
        (json!(100), json!(3))
    );
    assert_eq!(update["after"]["apiKeyHint"], "****abcd");
    let activated = &edges[3]["node"];
    assert_eq!(
        (
            activated["before"]["isDefault"].clone(),
            activated["after"]["isDefault"].clone()
        ),
        (json!(false), json!(true))
    );

    // Filter and pages.
    let tests = audit_log(
        &app,
        ADMIN,
        json!({ "action": "provider.test_sms" }),
        1,
        None,
    )
    .await;
    let page = &tests["data"]["auditLog"];
    assert_eq!(page["edges"][0]["node"]["actor"], "ops-bot");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let next = audit_log(
        &app,
        ADMIN,
        json!({ "action": "provider.test_sms" }),
        1,
        page["pageInfo"]["endCursor"].as_str(),
    )
    .await;
    assert_eq!(
        next["data"]["auditLog"]["edges"][0]["node"]["actor"],
        "admin"
    );
    assert_eq!(next["data"]["auditLog"]["pageInfo"]["hasNextPage"], false);

    // Admins only.
    let viewer = app.create_token("auditor-view", Role::Viewer).await;
    assert_eq!(
        error_code(&audit_log(&app, &viewer, json!(null), 5, None).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&audit_log(&app, SERVICE, json!(null), 5, None).await),
        "FORBIDDEN"
    );

    // The chain verifies, until an entry is edited in the store.
    let head = edges[0]["node"]["hash"].as_str().unwrap().to_owned();
    let dir = app.stop().await;
    let log = AuditLog::new(Arc::new(EmbeddedStore::open(dir.path()).unwrap()));
    assert_eq!(log.verify().await.unwrap(), Ok((8, head)));
    let conn =
        rusqlite::Connection::open(dir.path().join(smsgate::store::embedded::DB_FILE)).unwrap();
    conn.execute("UPDATE audit_log SET actor = 'admin' WHERE actor = 'ops-bot' AND action = 'provider.activated'", [])
        .unwrap();
    let broken = log.verify().await.unwrap().unwrap_err();
    assert_eq!(
        broken.to_string(),
        "entry 5 was changed after it was written"
    );
}
