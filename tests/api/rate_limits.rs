//! Rate limits end to end: a token over its rate and a recipient over its OTP allowance are
//! refused with RATE_LIMITED and a retry-after (429 + Retry-After on REST), other tokens and
//! numbers are not, and refusals are counted in /metrics. Recovery over time is tested on the
//! buckets themselves with an injected clock (src/rate_limit.rs), not by waiting here.

use crate::helpers::*;
use serde_json::{json, Value};
use smsgate::http::auth::Role;

async fn metric(app: &TestApp, line_start: &str) -> String {
    let text = app.metrics_text().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in /metrics"))
        .to_owned()
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        ("SMSGATE_RATE_LIMIT_PER_SECOND", "1"),
        ("SMSGATE_RATE_LIMIT_BURST", "2"),
    ];
    let app = spawn_app_in(dir, &limits).await;
    let viewer = app.create_token("busy-dashboard", Role::Viewer).await;
    let get = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/admin/sms/providers"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get(viewer.clone()).await.status(), 200);
    assert_eq!(get(viewer.clone()).await.status(), 200);
    let refused = get(viewer.clone()).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["retry_after"], 1);

    let graphql = app
        .graphql_as(Some(&viewer), "{ providers { slug } }", json!({}))
        .await;
    assert_eq!(error_code(&graphql), "RATE_LIMITED");
    assert_eq!(
        graphql["errors"][0]["extensions"]["retryAfter"], 1,
        "{graphql}"
    );

    assert_eq!(
        get(ADMIN.to_owned()).await.status(),
        200,
        "each token has its own bucket"
    );
    assert_eq!(
        metric(&app, "smsgate_rate_limited_total{limit=\"token\"}").await,
        "smsgate_rate_limited_total{limit=\"token\"} 2"
    );
}

#[tokio::test]
async fn a_recipient_over_its_otp_allowance_is_refused_on_graphql_and_rest() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        ("SMSGATE_RATE_LIMIT_PER_SECOND", "0"),
        ("SMSGATE_OTP_PER_RECIPIENT_PER_HOUR", "2"),
    ];
    let app = spawn_app_in(dir, &limits).await;
    for _ in 0..2 {
        app.send_sms(json!({ "to": "0755111111", "body": "Codul: 1234", "type": "OTP" }))
            .await;
    }
    let third = app
        .graphql(
            r#"mutation { sendSms(input: {to: "+40755111111", body: "Codul: 1234", type: OTP}) { message { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&third), "RATE_LIMITED");
    let retry_after = third["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(
        (1700..=1800).contains(&retry_after),
        "half an hour for one of 2 per hour: {retry_after}"
    );

    let rest = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "0755111111", "message": "Codul: 1234", "message_type": "otp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 429);
    assert!(rest.headers().contains_key("retry-after"));
    let body: Value = rest.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");

    // Other types and other numbers are not held back.
    app.send_sms(
        json!({ "to": "0755111111", "body": "Comanda a plecat", "type": "TRANSACTIONAL" }),
    )
    .await;
    app.send_sms(json!({ "to": "0755222222", "body": "Codul: 1234", "type": "OTP" }))
        .await;
    assert_eq!(
        metric(&app, "smsgate_rate_limited_total{limit=\"recipient\"}").await,
        "smsgate_rate_limited_total{limit=\"recipient\"} 2"
    );
}
