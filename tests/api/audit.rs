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
    let all = answer["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    // Each admin action is preceded by its `admin.requested` entry (written before it ran).
    let requested: Vec<&Value> = all
        .iter()
        .filter(|e| e["node"]["action"] == "admin.requested")
        .collect();
    assert_eq!(requested.len(), 8, "{answer}");
    assert_eq!(
        requested.last().unwrap()["node"]["target"],
        "createProvider"
    );
    assert_eq!(
        requested[2]["node"]["target"],
        "POST /api/admin/sms/providers/mock/test"
    );
    let edges: Vec<Value> = all
        .iter()
        .filter(|e| e["node"]["action"] != "admin.requested")
        .cloned()
        .collect();
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

    // ... and their refusals are recorded.
    let newest = audit_log(&app, ADMIN, json!(null), 2, None).await;
    let refusals = newest["data"]["auditLog"]["edges"].as_array().unwrap();
    for (edge, actor) in refusals.iter().zip(["service", "auditor-view"]) {
        assert_eq!(edge["node"]["action"], "admin.refused", "{edge}");
        assert_eq!(edge["node"]["actor"], actor);
        assert_eq!(edge["node"]["target"], "auditLog");
    }

    // The chain verifies, until an entry is edited in the store.
    let head = refusals[0]["node"]["hash"].as_str().unwrap().to_owned();
    let dir = app.stop().await;
    let log = AuditLog::new(Arc::new(EmbeddedStore::open(dir.path()).unwrap()));
    assert_eq!(log.verify().await.unwrap(), Ok((18, head)));
    let conn =
        rusqlite::Connection::open(dir.path().join(smsgate::store::embedded::DB_FILE)).unwrap();
    conn.execute("UPDATE audit_log SET actor = 'admin' WHERE actor = 'ops-bot' AND action = 'provider.activated'", [])
        .unwrap();
    let broken = log.verify().await.unwrap().unwrap_err();
    assert_eq!(
        broken.to_string(),
        "entry 10 was changed after it was written"
    );
}

/// Makes every later audit write fail, as a full disk or a read-only store would.
fn break_audit_writes(app: &TestApp) {
    let conn =
        rusqlite::Connection::open(app.dir.path().join(smsgate::store::embedded::DB_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER audit_read_only BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'read-only'); END;",
    )
    .unwrap();
}

async fn mock_priority(app: &TestApp) -> i64 {
    let answer = app
        .graphql(r#"{ provider(id: "mock") { priority } }"#, json!({}))
        .await;
    answer["data"]["provider"]["priority"]
        .as_i64()
        .unwrap_or_else(|| panic!("{answer}"))
}

#[tokio::test]
async fn an_admin_action_whose_entry_cannot_be_written_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let before = mock_priority(&app).await;
    break_audit_writes(&app);

    let answer = app
        .graphql(
            r#"mutation { updateProvider(id: "mock", input: {priority: 7}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&answer), "UNAVAILABLE", "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was changed"));

    let rest = app
        .client
        .put(app.url("/api/admin/sms/providers/mock"))
        .bearer_auth(ADMIN)
        .json(&json!({ "priority": 8 }))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 503);
    let body: Value = rest.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");

    assert_eq!(mock_priority(&app).await, before, "nothing changed");
    // Sending messages is not an admin action: it goes on.
    app.send_sms(json!({ "to": "0755123456", "body": "still sending" }))
        .await;
}

#[tokio::test]
async fn refused_admin_attempts_are_recorded_with_who_and_what() {
    let app = spawn_app().await;
    let viewer = app.create_token("curious-viewer", Role::Viewer).await;
    let answer = app
        .graphql_as(
            Some(SERVICE),
            r#"mutation { updateProvider(id: "mock", input: {priority: 1}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&answer), "FORBIDDEN");
    let rest = app
        .client
        .post(app.url("/api/admin/sms/providers/mock/activate"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 403);

    let log = audit_log(&app, ADMIN, json!({ "action": "admin.refused" }), 10, None).await;
    let entries: Vec<(String, String, String)> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .rev()
        .map(|e| {
            let node = &e["node"];
            (
                node["actor"].as_str().unwrap().to_owned(),
                node["target"].as_str().unwrap().to_owned(),
                node["after"]["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("service".into(), "updateProvider".into(), "service".into()),
            (
                "curious-viewer".into(),
                "POST /api/admin/sms/providers/mock/activate".into(),
                "viewer".into()
            ),
        ]
    );
}
