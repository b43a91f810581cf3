//! Data survives a restart on the same data dir.

use crate::helpers::{spawn_app, spawn_app_in};
use serde_json::json;

#[tokio::test]
async fn messages_survive_a_restart() {
    let app = spawn_app().await;
    let m = app
        .send_sms(json!({ "to": "0755123456", "body": "keep me" }))
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "DELIVERED").await;
    let dir = app.stop().await;

    let again = spawn_app_in(dir, &[]).await;
    let stored = again.message(&id).await;
    assert_eq!(stored["status"], "DELIVERED", "{stored}");
    assert_eq!(stored["body"], "keep me");
    let providers = again.graphql("{ providers { slug } }", json!({})).await;
    assert_eq!(
        providers["data"]["providers"].as_array().unwrap().len(),
        1,
        "the dev mock is not configured twice: {providers}"
    );
}
