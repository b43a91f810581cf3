//! `messages`: filters and cursor pagination; statistics after deliveries.

use crate::helpers::spawn_app;
use serde_json::json;

#[tokio::test]
async fn messages_filter_and_paginate_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let ty = if i % 3 == 0 {
            "MARKETING"
        } else {
            "TRANSACTIONAL"
        };
        let to = if i % 2 == 0 {
            "0755000001"
        } else {
            "0755000002"
        };
        let m = app
            .send_sms(json!({ "to": to, "body": format!("m{i}"), "type": ty }))
            .await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_for_status(id, "DELIVERED").await;
    }
    let page = |after: Option<String>| {
        let app = &app;
        async move {
            app.graphql(
                "query($after: String) { messages(first: 3, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await
        }
    };
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let answer = page(after.clone()).await;
        let conn = &answer["data"]["messages"];
        for edge in conn["edges"].as_array().unwrap() {
            listed.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let filtered = app
        .graphql(
            r#"{ messages(filter: { type: MARKETING, to: "0755000001", status: DELIVERED, provider: "mock" }, first: 50) { edges { node { id type to status } } } }"#,
            json!({}),
        )
        .await;
    let nodes: Vec<_> = filtered["data"]["messages"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{filtered}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    // i = 0 and 6 are marketing to ...001.
    assert_eq!(nodes, [ids[6].clone(), ids[0].clone()]);

    let since_future = app
        .graphql(
            r#"{ messages(filter: { createdFrom: "2999-01-01T00:00:00Z" }) { edges { node { id } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(since_future["data"]["messages"]["edges"], json!([]));
}

#[tokio::test]
async fn statistics_count_what_was_delivered_today() {
    let app = spawn_app().await;
    for i in 0..3 {
        let m = app
            .send_sms(json!({ "to": "0755000003", "body": format!("s{i}") }))
            .await;
        app.wait_for_status(m["id"].as_str().unwrap(), "DELIVERED")
            .await;
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let answer = app
        .graphql(
            "query($d: Date!) { statistics(from: $d, to: $d) { day provider sentCount deliveredCount failedCount totalCost avgDeliveryTime } }",
            json!({ "d": today }),
        )
        .await;
    let rows = answer["data"]["statistics"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(rows.len(), 1, "{answer}");
    assert_eq!(rows[0]["provider"], "mock");
    assert_eq!(rows[0]["sentCount"], 3);
    assert_eq!(rows[0]["deliveredCount"], 3);
    assert_eq!(rows[0]["failedCount"], 0);
    assert!(rows[0]["totalCost"].as_f64().unwrap() > 0.0);
}
