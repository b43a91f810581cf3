//! /metrics after real traffic, read with a real prometheus text parser: the named series are
//! there, their values match what happened, and no label carries a phone number or an id.

use crate::helpers::*;
use prometheus_parse::{Sample, Scrape, Value as PromValue};
use serde_json::json;

async fn scrape(app: &TestApp) -> Scrape {
    let text = app
        .client
        .get(app.internal_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn total(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s: &Sample| match &s.value {
            PromValue::Counter(v) | PromValue::Gauge(v) | PromValue::Untyped(v) => *v,
            PromValue::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            PromValue::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_after_traffic_parse_and_count_what_happened() {
    let app = spawn_app().await;
    let mut delivered = Vec::new();
    for (i, ty) in ["OTP", "TRANSACTIONAL", "MARKETING", "OTP"]
        .iter()
        .enumerate()
    {
        let sent = app
            .send_sms(json!({ "to": "0755123456", "body": format!("m{i}"), "type": ty }))
            .await;
        delivered.push(sent["id"].as_str().unwrap().to_owned());
    }
    for id in &delivered {
        app.wait_for_status(id, "DELIVERED").await;
    }
    let stats = app
        .graphql(
            r#"{ statistics(from: "2026-01-01", to: "2026-01-02") { day } }"#,
            json!({}),
        )
        .await;
    assert!(stats.get("errors").is_none(), "{stats}");

    let s = scrape(&app).await;
    let delivered_n = delivered.len() as f64;
    assert_eq!(
        total(
            &s,
            "smsgate_messages_finished_total",
            &[("status", "delivered")]
        ),
        delivered_n
    );
    assert_eq!(
        total(
            &s,
            "smsgate_messages_finished_total",
            &[
                ("provider", "mock"),
                ("type", "otp"),
                ("status", "delivered")
            ]
        ),
        2.0
    );
    assert_eq!(
        total(&s, "smsgate_messages_total", &[("status", "queued")]),
        delivered_n
    );
    assert_eq!(
        total(
            &s,
            "smsgate_provider_attempts_total",
            &[("provider", "mock")]
        ),
        delivered_n
    );
    assert_eq!(
        total(&s, "smsgate_delivery_seconds", &[("provider", "mock")]),
        delivered_n,
        "one time-to-delivery observation per delivery"
    );
    assert_eq!(
        total(
            &s,
            "smsgate_provider_request_seconds",
            &[("provider", "mock"), ("operation", "send")]
        ),
        delivered_n
    );
    assert_eq!(
        total(
            &s,
            "smsgate_graphql_operations_total",
            &[("field", "sendSms"), ("outcome", "ok")]
        ),
        delivered_n
    );
    assert_eq!(
        total(
            &s,
            "smsgate_graphql_operations_total",
            &[("field", "statistics")]
        ),
        1.0
    );
    assert!(
        total(
            &s,
            "smsgate_graphql_operation_seconds",
            &[("field", "sendSms")]
        ) >= 4.0
    );
    assert!(total(&s, "smsgate_http_requests_total", &[("route", "/graphql")]) >= 5.0);
    for gauge in ["smsgate_queue_depth", "smsgate_provider_in_flight"] {
        assert!(
            s.samples.iter().any(|x| x.metric == gauge),
            "{gauge} is exported"
        );
    }
    // Counters end in _total, durations are in seconds, and no label holds a number or an id.
    for sample in &s.samples {
        if matches!(sample.value, PromValue::Counter(_)) {
            assert!(sample.metric.ends_with("_total"), "{}", sample.metric);
        }
        if matches!(sample.value, PromValue::Histogram(_)) {
            assert!(sample.metric.ends_with("_seconds"), "{}", sample.metric);
        }
        for (key, value) in sample.labels.iter() {
            assert!(
                !value.contains("755123456") && !value.starts_with("msg_"),
                "{}: {key}={value}",
                sample.metric
            );
        }
    }
}

/// The mock provider starts with €1 of credit (below the €5 default), so `low_credit` fires on
/// the first tick; the webhook receiver on 127.0.0.1 accepts every notice.
#[tokio::test]
async fn a_fired_alert_shows_in_the_alert_series_with_its_webhook_delivery() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let file = format!(
        r#"
[[providers]]
name = "Mock"
slug = "mock"
kind = "MOCK"
settings = {{ starting_balance_cents = 100.0 }}

[alerts]
tick_ms = 50
cooldown_s = 1800

[alerts.webhook]
url = "{url}"
secret = "whsec-metrics-test"
"#
    );
    let app = spawn_app_with_file(tempfile::tempdir().unwrap(), Some(&file), &[]).await;

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let s = loop {
        let s = scrape(&app).await;
        let delivered = total(
            &s,
            "smsgate_alert_webhook_deliveries_total",
            &[("outcome", "delivered")],
        );
        if delivered >= 1.0 {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook delivery was counted in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        total(&s, "smsgate_alerts_firing", &[("rule", "low_credit")]),
        1.0
    );
    assert_eq!(
        total(
            &s,
            "smsgate_alert_notices_total",
            &[("rule", "low_credit"), ("state", "firing")]
        ),
        1.0,
        "one notice: the repeat waits for the cool-down"
    );
    assert_eq!(
        total(
            &s,
            "smsgate_alert_notices_total",
            &[("rule", "low_credit"), ("state", "resolved")]
        ),
        0.0
    );
    assert_eq!(
        total(&s, "smsgate_alert_webhook_deliveries_total", &[]),
        1.0,
        "delivered at the first try, nothing refused, dropped or given up"
    );
    // Every rule has its series from the start, and none is labelled by its subject.
    for rule in [
        "low_credit",
        "high_failure_rate",
        "provider_down",
        "unusual_volume",
        "otp_burst",
        "provider_rejected",
    ] {
        assert!(
            s.samples
                .iter()
                .any(|x| x.metric == "smsgate_alerts_firing" && x.labels.get("rule") == Some(rule)),
            "{rule} is exported"
        );
    }
    for sample in s.samples.iter().filter(|x| x.metric.contains("alert")) {
        assert!(
            sample
                .labels
                .iter()
                .all(|(k, _)| ["rule", "state", "outcome"].contains(&k.as_str())),
            "{}: {:?}",
            sample.metric,
            sample.labels
        );
        if matches!(sample.value, PromValue::Counter(_)) {
            assert!(sample.metric.ends_with("_total"), "{}", sample.metric);
        }
    }
}
