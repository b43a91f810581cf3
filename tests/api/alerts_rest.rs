//! `GET /api/admin/sms/alerts` on the real server: the alert history for admins' scripts, with
//! alertHistory's filters, page sizes and cursors, in snake_case; other roles get a 403 JSON.

use crate::helpers::{spawn_app_with_file, TestApp, ADMIN, SERVICE};
use serde_json::{json, Value};
use smsgate::http::auth::Role;

/// A mock provider with €1 of credit fires `low_credit` at once; with no cool-down the alert
/// repeats on every 50 ms tick, so the history soon holds several notices.
const CONFIG: &str = r#"
[[providers]]
name = "Mock"
slug = "mock"
kind = "MOCK"
settings = { starting_balance_cents = 100.0 }

[alerts]
tick_ms = 50
cooldown_s = 0
"#;

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_page_through_the_alert_history_over_rest_and_others_are_refused() {
    let app = spawn_app_with_file(tempfile::tempdir().unwrap(), Some(CONFIG), &[]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, page) = get(&app, "/api/admin/sms/alerts?limit=3", ADMIN).await;
        assert_eq!(status, 200, "{page}");
        if page["alerts"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no alerts in time");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let (status, first) = get(&app, "/api/admin/sms/alerts?rule=LOW_CREDIT&limit=2", ADMIN).await;
    assert_eq!(status, 200, "{first}");
    let alerts = first["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let a = &alerts[0];
    assert_eq!(a["rule"], "low_credit");
    assert_eq!(a["subject"], "mock");
    assert_eq!(a["state"], "firing");
    assert_eq!(a["severity"], "warning");
    assert!(a["id"].as_str().unwrap().starts_with("alr_"), "{a}");
    assert!(a["fired_at"].is_string() && a["at"].is_string(), "{a}");
    assert_eq!(a["details"]["creditCents"], 100.0);
    assert_eq!(alerts[1]["id"], a["id"], "one alert, many notices");
    let newer = a["notice"].as_u64().unwrap();
    assert_eq!(
        alerts[1]["notice"].as_u64().unwrap() + 1,
        newer,
        "newest first"
    );

    // The next page carries on where the first ended.
    let cursor = first["next_cursor"].as_str().expect("more notices");
    let (status, second) = get(
        &app,
        &format!("/api/admin/sms/alerts?rule=low_credit&limit=2&cursor={cursor}"),
        ADMIN,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["alerts"][0]["notice"].as_u64().unwrap() + 2,
        newer,
        "{second}"
    );

    // GraphQL alertHistory's cursors work here too.
    let gql = app
        .graphql(
            "query { alertHistory(first: 1) { edges { node { notice } } pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let end = gql["data"]["alertHistory"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{gql}"));
    let top = gql["data"]["alertHistory"]["edges"][0]["node"]["notice"]
        .as_u64()
        .unwrap();
    let (status, after) = get(
        &app,
        &format!("/api/admin/sms/alerts?limit=1&cursor={end}"),
        ADMIN,
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["alerts"][0]["notice"].as_u64().unwrap() + 1, top);

    // Filters that match nothing give an empty page.
    for filter in ["rule=provider_down", "state=resolved"] {
        let (status, none) = get(&app, &format!("/api/admin/sms/alerts?{filter}"), ADMIN).await;
        assert_eq!(status, 200, "{none}");
        assert_eq!(none["alerts"], json!([]), "{filter}");
        assert_eq!(none["next_cursor"], Value::Null);
    }

    // Bad input: a 400 naming the field, never a 5xx.
    for (query, field) in [
        ("rule=nope", "rule"),
        ("state=open", "state"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
    ] {
        let (status, body) = get(&app, &format!("/api/admin/sms/alerts?{query}"), ADMIN).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_INPUT", "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }

    // Viewers read logs and statistics, but not alerts; services neither.
    let viewer = app.create_token("ops-viewer", Role::Viewer).await;
    for token in [viewer.as_str(), SERVICE] {
        let (status, body) = get(&app, "/api/admin/sms/alerts", token).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN", "{body}");
    }
}
