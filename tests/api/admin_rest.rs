//! The seed's admin REST routes on the public listener: providers, statistics and logs over the
//! same engine as GraphQL, with the same tokens, roles and error shape; and `/openapi.json`.

use crate::helpers::{spawn_app, TestApp, ADMIN, SERVICE};
use reqwest::Method;
use serde_json::{json, Value};

async fn rest(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = rest(app, Method::GET, path, Some(ADMIN), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn admin_lists_changes_activates_and_tests_providers_over_rest() {
    let app = spawn_app().await;
    let listed = get(&app, "/api/admin/sms/providers").await;
    assert_eq!(listed["providers"][0]["slug"], "mock", "{listed}");
    assert_eq!(listed["providers"][0]["is_default"], true);
    assert_eq!(listed["providers"][0]["kind"], "mock");

    // A second provider, made over GraphQL, is visible and changeable over REST.
    let created = app
        .graphql(
            r#"mutation { createProvider(input: {name: "Backup", slug: "backup", kind: MOCK}) { id } }"#,
            json!({}),
        )
        .await;
    let id = created["data"]["createProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, changed) = rest(
        &app,
        Method::PUT,
        &format!("/api/admin/sms/providers/{id}"),
        Some(ADMIN),
        Some(json!({ "priority": 7, "sender_id": "Shop" })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["priority"].clone(), changed["sender_id"].clone()),
        (json!(7), json!("Shop"))
    );
    let shown = get(&app, "/api/admin/sms/providers/backup").await;
    assert_eq!(shown["priority"], 7, "by slug too");

    let (status, activated) = rest(
        &app,
        Method::POST,
        &format!("/api/admin/sms/providers/{id}/activate"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(
        (status, activated["is_default"].clone()),
        (200, json!(true))
    );
    let listed = get(&app, "/api/admin/sms/providers").await;
    let defaults: Vec<&Value> = listed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "exactly one default: {listed}");
    assert_eq!(defaults[0]["slug"], "backup");

    let (status, sent) = rest(
        &app,
        Method::POST,
        &format!("/api/admin/sms/providers/{id}/test"),
        Some(ADMIN),
        Some(json!({ "phone_number": "0755123456", "message": "test" })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        (sent["status"].clone(), sent["provider"].clone()),
        (json!("delivered"), json!("backup"))
    );
}

/// method, path, token, body, expected status, expected code.
type Case = (
    Method,
    &'static str,
    Option<&'static str>,
    Option<Value>,
    u16,
    &'static str,
);

#[tokio::test]
async fn rest_errors_use_the_contract_codes_and_statuses() {
    let app = spawn_app().await;
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/api/admin/sms/providers",
            None,
            None,
            401,
            "UNAUTHENTICATED",
        ),
        (
            Method::GET,
            "/api/admin/sms/providers",
            Some(SERVICE),
            None,
            403,
            "FORBIDDEN",
        ),
        (
            Method::PUT,
            "/api/admin/sms/providers/mock",
            Some(SERVICE),
            Some(json!({})),
            403,
            "FORBIDDEN",
        ),
        (
            Method::GET,
            "/api/admin/sms/providers/nope",
            Some(ADMIN),
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Method::PUT,
            "/api/admin/sms/providers/mock",
            Some(ADMIN),
            Some(json!({ "colour": 1 })),
            400,
            "INVALID_INPUT",
        ),
        (
            Method::PUT,
            "/api/admin/sms/providers/mock",
            Some(ADMIN),
            Some(json!({ "kind": "smso" })),
            400,
            "INVALID_INPUT",
        ),
        (
            Method::POST,
            "/api/admin/sms/providers/mock/test",
            Some(ADMIN),
            Some(json!({ "phone_number": "abc" })),
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/logs?status=lost",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/logs?status=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/logs?message_type=%20",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/logs?error_kind=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?message_type=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?group_by=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/alerts?rule=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/alerts?state=",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/logs?cursor=xyz",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?from=2026-02-01&to=2026-01-01",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?from=yesterday",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?group_by=week",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?message_type=fax",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
        (
            Method::GET,
            "/api/admin/sms/statistics?from=2026-01-01&to=2026-06-01&group_by=hour",
            Some(ADMIN),
            None,
            400,
            "INVALID_INPUT",
        ),
    ];
    for (method, path, token, body, status, code) in cases {
        let (got, answer) = rest(&app, method.clone(), path, token, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
    }
    let (_, answer) = rest(
        &app,
        Method::PUT,
        "/api/admin/sms/providers/mock",
        Some(ADMIN),
        Some(json!({ "kind": "twilio", "credentials": { "account_sid": "AC1" } })),
    )
    .await;
    assert_eq!(
        answer["error"]["field"], "credentials.auth_token",
        "{answer}"
    );
}

#[tokio::test]
async fn logs_filter_and_paginate_and_statistics_count_the_deliveries() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (ty, to) = if i % 2 == 0 {
            ("OTP", "0755000001")
        } else {
            ("MARKETING", "0755000002")
        };
        let m = app
            .send_sms(json!({ "to": to, "body": format!("m{i}"), "type": ty }))
            .await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_for_status(id, "DELIVERED").await;
    }
    let mut listed = Vec::new();
    let mut path = "/api/admin/sms/logs?limit=2".to_owned();
    loop {
        let page = get(&app, &path).await;
        for log in page["logs"].as_array().unwrap() {
            listed.push(log["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/admin/sms/logs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first, "every message once, newest first");

    let otp = get(
        &app,
        "/api/admin/sms/logs?message_type=otp&status=delivered&phone_number=%2B40755000001",
    )
    .await;
    let otp = otp["logs"].as_array().unwrap();
    assert_eq!(otp.len(), 3);
    assert!(otp
        .iter()
        .all(|l| l["message_type"] == "otp" && l["status"] == "delivered"));
    let none = get(&app, "/api/admin/sms/logs?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(none["logs"], json!([]));

    let stats = get(&app, "/api/admin/sms/statistics?provider=mock").await;
    let rows = stats["statistics"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{stats}");
    assert_eq!(rows[0]["sent_count"], 5);
    assert_eq!(rows[0]["delivered_count"], 5);
    assert!(rows[0]["p95_delivery_time"].as_f64().is_some(), "{stats}");
    assert!(rows[0].get("hour").is_none() && rows[0].get("message_type").is_none());

    // The same figures per hour and per type: they add up to the day's.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let split = get(
        &app,
        &format!("/api/admin/sms/statistics?from={yesterday}&group_by=hour&by_type=true"),
    )
    .await;
    let split = split["statistics"].as_array().unwrap();
    let sent = |t: &str| -> i64 {
        split
            .iter()
            .filter(|r| r["message_type"] == t)
            .map(|r| r["sent_count"].as_i64().unwrap())
            .sum()
    };
    assert_eq!((sent("otp"), sent("marketing")), (3, 2), "{split:?}");
    assert!(split
        .iter()
        .all(|r| r["hour"].as_str().is_some_and(|h| h.ends_with(":00:00Z"))));
    let marketing = get(&app, "/api/admin/sms/statistics?message_type=marketing").await;
    let marketing = marketing["statistics"].as_array().unwrap();
    assert_eq!(marketing.len(), 1, "{marketing:?}");
    assert_eq!(marketing[0]["message_type"], "marketing");
    assert_eq!(marketing[0]["sent_count"], 2);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_each_of_its_routes_is_routed() {
    let app = spawn_app().await;
    let doc = get(&app, "/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 10, "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "mock").replace("{token}", "msg_x");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Unauthenticated: a routed path answers 401; an unrouted one would be 404/405.
            let url = if concrete.starts_with("/internal/") {
                app.internal_url(&concrete)
            } else {
                app.url(&concrete)
            };
            let status = app
                .client
                .request(method.clone(), url)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 401, "{method} {concrete} is not routed");
        }
    }
}
