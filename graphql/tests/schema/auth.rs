//! Who may do what: no caller is UNAUTHENTICATED; a role without the permission is FORBIDDEN.

use crate::helpers::*;
use serde_json::json;
use smsgate_actors::domain::Role;

const PROVIDERS: &str = "{ providers { slug } }";
const STATISTICS: &str =
    r#"{ statistics(from: "2026-01-01", to: "2026-01-02") { provider sentCount } }"#;
const MESSAGES: &str = "{ messages { edges { node { id } } } }";

#[tokio::test]
async fn a_request_without_a_caller_is_unauthenticated() {
    let api = spawn_api().await;
    for (query, variables) in [
        (SEND, json!({ "input": send_input("+40755123456", "hi") })),
        (MESSAGES, json!({})),
        (PROVIDERS, json!({})),
        (STATISTICS, json!({})),
    ] {
        let response = api.execute(None, query, variables).await;
        assert_eq!(error_code(&response).0, "UNAUTHENTICATED", "{query}");
    }
    assert_eq!(api.store.message_count(), 0);
}

#[tokio::test]
async fn a_viewer_reads_everything_but_cannot_send() {
    let api = spawn_api().await;
    let response = api
        .execute(
            Some(Role::Viewer),
            SEND,
            json!({ "input": send_input("+40755123456", "hi") }),
        )
        .await;
    assert_eq!(error_code(&response).0, "FORBIDDEN");
    assert_eq!(api.store.message_count(), 0);

    for query in [MESSAGES, PROVIDERS, STATISTICS] {
        data(api.execute(Some(Role::Viewer), query, json!({})).await);
    }
}

#[tokio::test]
async fn a_service_sends_and_reads_messages_but_not_providers_or_statistics() {
    let api = spawn_api().await;
    data(
        api.execute(
            Some(Role::Service),
            SEND,
            json!({ "input": send_input("+40755123456", "hi") }),
        )
        .await,
    );
    data(api.execute(Some(Role::Service), MESSAGES, json!({})).await);
    for query in [PROVIDERS, STATISTICS] {
        let response = api.execute(Some(Role::Service), query, json!({})).await;
        assert_eq!(error_code(&response).0, "FORBIDDEN", "{query}");
    }
}
