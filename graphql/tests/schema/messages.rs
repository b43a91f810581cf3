//! messages: filters and relay-style pagination.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate_actors::{domain::MessageStatus, ports::ProviderErrorKind};
use std::collections::HashSet;

const LIST: &str = r#"
    query List($filter: MessageFilter, $first: Int, $after: String) {
        messages(filter: $filter, first: $first, after: $after) {
            edges { cursor node { id to type status provider } }
            pageInfo { hasNextPage endCursor }
        }
    }"#;

async fn list(api: &TestApi, filter: Value) -> Vec<String> {
    let data = api
        .admin(LIST, json!({ "filter": filter, "first": 100 }))
        .await;
    data["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&String]) -> HashSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

#[tokio::test]
async fn filters_narrow_by_status_type_recipient_and_provider() {
    let api = spawn_api_with(&["mock", "backup"]).await;
    let otp = api
        .send(json!({ "to": "+40755123456", "body": "1234", "type": "OTP" }))
        .await;
    let marketing = api
        .send(json!({ "to": "+40755123457", "body": "Reduceri", "type": "MARKETING" }))
        .await;
    let pinned = api
        .send(json!({ "to": "+40755123456", "body": "via backup", "provider": "backup" }))
        .await;
    for id in [&otp, &marketing, &pinned] {
        api.wait_for(id, MessageStatus::Delivered).await;
    }
    api.mock().fail_next(ProviderErrorKind::InvalidRecipient, 1);
    let failed = api.send(send_input("+40755123458", "no such phone")).await;
    api.wait_for(&failed, MessageStatus::Failed).await;

    assert_eq!(
        set(&list(&api, json!({ "status": "FAILED" }))
            .await
            .iter()
            .collect::<Vec<_>>()),
        set(&[&failed])
    );
    assert_eq!(list(&api, json!({ "status": "DELIVERED" })).await.len(), 3);
    assert_eq!(list(&api, json!({ "type": "OTP" })).await, [otp.as_str()]);
    assert_eq!(
        list(&api, json!({ "type": "MARKETING" })).await,
        [marketing.as_str()]
    );
    // The recipient is matched however it is written.
    assert_eq!(
        set(&list(&api, json!({ "to": "0755 123 456" }))
            .await
            .iter()
            .collect::<Vec<_>>()),
        set(&[&otp, &pinned])
    );
    assert_eq!(
        list(&api, json!({ "provider": "backup" })).await,
        [pinned.as_str()]
    );
    assert_eq!(
        list(&api, json!({ "provider": "mock", "type": "OTP" })).await,
        [otp.as_str()]
    );
    assert!(list(&api, json!({ "provider": "nosuch" })).await.is_empty());
    assert_eq!(list(&api, json!({})).await.len(), 4);
}

#[tokio::test]
async fn created_time_range_is_from_inclusive_to_exclusive() {
    let api = spawn_api().await;
    let id = api.send(send_input("+40755123456", "hi")).await;
    let created = api.message(&id).await["createdAt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        list(&api, json!({ "createdFrom": created })).await,
        [id.as_str()]
    );
    assert!(list(&api, json!({ "createdTo": created })).await.is_empty());
    assert!(list(&api, json!({ "createdFrom": "2999-01-01T00:00:00Z" }))
        .await
        .is_empty());
}

#[tokio::test]
async fn pages_cover_every_message_once_newest_first() {
    let api = spawn_api().await;
    let mut sent = Vec::new();
    for i in 0..7 {
        sent.push(
            api.send(send_input("+40755123456", &format!("message {i}")))
                .await,
        );
    }

    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let data = api.admin(LIST, json!({ "first": 3, "after": after })).await;
        let connection = &data["messages"];
        let edges = connection["edges"].as_array().unwrap();
        pages.push(edges.len());
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        let info = &connection["pageInfo"];
        assert_eq!(
            info["endCursor"],
            edges.last().map_or(Value::Null, |e| e["cursor"].clone())
        );
        if info["hasNextPage"] == false {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_owned());
        assert!(pages.len() < 10, "pagination does not end");
    }

    assert_eq!(pages, [3, 3, 1]);
    let mut expected = sent.clone();
    expected.reverse();
    assert_eq!(seen, expected, "every message once, newest first");
}

#[tokio::test]
async fn an_empty_page_has_no_end_cursor() {
    let api = spawn_api().await;
    // An explicit null `first` means the default page size.
    let data = api.admin(LIST, json!({ "first": null })).await;
    assert_eq!(data["messages"]["edges"], json!([]));
    assert_eq!(
        data["messages"]["pageInfo"],
        json!({ "hasNextPage": false, "endCursor": null })
    );
}
