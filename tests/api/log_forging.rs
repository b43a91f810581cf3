//! Caller text in the text log: an id from a path never starts a log line of its own.

use crate::helpers::{spawn_app, ADMIN};

#[tokio::test]
async fn a_newline_in_a_path_id_cannot_forge_a_log_line() {
    let app = spawn_app().await;
    let marker = format!("forged-{}", std::process::id());
    let path = format!(
        "/api/admin/sms/providers/x%0A2026-12-05T08:00:00.000000Z%20ERROR%20smsgate:%20{marker}/activate"
    );
    let answer = app
        .client
        .post(app.url(&path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);

    let logs = smsgate::telemetry::captured_logs();
    let carrying: Vec<&str> = logs.lines().filter(|l| l.contains(&marker)).collect();
    assert!(!carrying.is_empty(), "the request was logged: {logs}");
    for line in carrying {
        // The id stays inside a genuine line (the request's, the refusal's), escaped.
        assert!(
            line.contains(r"x\n2026-12-05T08:00:00.000000Z ERROR"),
            "forged line: {line}"
        );
    }
    assert!(logs.contains("REST activate provider"), "{logs}");
}
