//! /metrics after real traffic, read with a real prometheus text parser: the named series are
//! there, their values match what happened, and no label carries a phone number or an id.

use crate::helpers::*;
use prometheus_parse::{Sample, Scrape, Value as PromValue};
use serde_json::json;

async fn scrape(app: &TestApp) -> Scrape {
    let text = app
        .client
        .get(app.url("/metrics"))
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
