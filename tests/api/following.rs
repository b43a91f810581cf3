//! One message's life can be followed in the log by its id: the request that carried it, its
//! acceptance, its dispatch to a provider, the provider call and each committed status.

use crate::helpers::spawn_app;
use serde_json::json;

#[tokio::test]
async fn a_message_is_followed_through_the_log_from_request_to_delivery_by_its_id() {
    let app = spawn_app().await;
    let sent = app
        .send_sms(json!({ "to": "0755123456", "body": "follow me", "type": "TRANSACTIONAL" }))
        .await;
    let id = sent["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "DELIVERED").await;

    let logs = without_colours(&smsgate::telemetry::captured_logs());
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&id)).collect();
    let has = |parts: &[&str]| lines.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    let shown = lines.join("\n");
    assert!(
        has(&[
            "request{",
            "route=\"/graphql\"",
            "accept{",
            "stored as QUEUED"
        ]),
        "the acceptance, inside its request's span:\n{shown}"
    );
    assert!(
        has(&["dispatch{", "provider=mock"]),
        "the dispatch:\n{shown}"
    );
    assert!(
        has(&["provider_call{", "the provider took the message"]),
        "the provider call:\n{shown}"
    );
    for status in ["SENDING", "SENT", "DELIVERED"] {
        assert!(
            has(&["status committed", &format!("status=\"{status}\"")]),
            "{status} committed:\n{shown}"
        );
    }
}

/// The captured text log has the terminal's colour codes; a person's grep would not see them.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape runs to its final letter (`m` for colours).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
