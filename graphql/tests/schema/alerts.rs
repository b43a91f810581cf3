//! `alerts` and `alertHistory`: admins only, notices newest first and paged, a live stream.

use crate::helpers::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use smsgate_actors::domain::Role;
use smsgate_actors::{
    alerts::{Alert, AlertRule, AlertState, AlertsConfig, Severity},
    ports::{AlertLog, SystemClock},
    AlertsSetup,
};
use std::sync::Arc;

const HISTORY: &str = r#"
    query History($first: Int, $after: String, $rule: AlertRule, $state: AlertState) {
        alertHistory(first: $first, after: $after, rule: $rule, state: $state) {
            edges { cursor node { id notice rule subject state severity message firedAt at details } }
            pageInfo { hasNextPage endCursor }
        }
    }"#;

const ALERTS: &str = "subscription { alerts { id rule subject state severity message details } }";

async fn start_alerts(api: &TestApi, config: AlertsConfig) {
    api.engine
        .start_alerts(AlertsSetup {
            config,
            clock: Arc::new(SystemClock),
            log: api.store.clone(),
            sinks: Vec::new(),
        })
        .await
        .unwrap();
}

fn all_rules_off() -> AlertsConfig {
    AlertsConfig {
        disabled: AlertRule::ALL
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        ..AlertsConfig::default()
    }
}

fn notice(id: &str, n: u32, rule: AlertRule, state: AlertState, minutes: i64) -> Alert {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    Alert {
        id: id.into(),
        notice: n,
        rule,
        subject: "mock".into(),
        state,
        severity: Severity::Critical,
        message: format!("{} #{n}", rule.as_str()),
        fired_at: t0,
        at: t0 + Duration::minutes(minutes),
        details: json!({ "rate": 0.5 }),
    }
}

#[tokio::test]
async fn alert_history_is_for_admins_newest_first_filtered_and_paged() {
    let api = spawn_api().await;
    start_alerts(&api, all_rules_off()).await;
    for a in [
        notice("alr_a", 0, AlertRule::ProviderDown, AlertState::Firing, 0),
        notice("alr_b", 0, AlertRule::LowCredit, AlertState::Firing, 5),
        notice(
            "alr_a",
            1,
            AlertRule::ProviderDown,
            AlertState::Resolved,
            10,
        ),
    ] {
        api.store.record_alert(&a).await.unwrap();
    }
    let page = api.admin(HISTORY, json!({ "first": 2 })).await;
    let h = &page["alertHistory"];
    let nodes: Vec<_> = h["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["id"].clone(),
                e["node"]["notice"].clone(),
                e["node"]["state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            (json!("alr_a"), json!(1), json!("RESOLVED")),
            (json!("alr_b"), json!(0), json!("FIRING")),
        ]
    );
    assert_eq!(h["pageInfo"]["hasNextPage"], true);
    let first = &h["edges"][0]["node"];
    assert_eq!(first["rule"], "PROVIDER_DOWN");
    assert_eq!(first["severity"], "CRITICAL");
    assert_eq!(first["firedAt"], "2026-11-24T09:00:00.000Z");
    assert_eq!(first["details"]["rate"], 0.5);

    let rest = api
        .admin(
            HISTORY,
            json!({ "first": 2, "after": h["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = &rest["alertHistory"];
    assert_eq!(rest["edges"].as_array().unwrap().len(), 1);
    assert_eq!(rest["edges"][0]["node"]["id"], "alr_a");
    assert_eq!(rest["edges"][0]["node"]["notice"], 0);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let by_rule = api.admin(HISTORY, json!({ "rule": "LOW_CREDIT" })).await;
    assert_eq!(
        by_rule["alertHistory"]["edges"].as_array().unwrap().len(),
        1
    );
    let firing = api.admin(HISTORY, json!({ "state": "FIRING" })).await;
    assert_eq!(firing["alertHistory"]["edges"].as_array().unwrap().len(), 2);

    for role in [Role::Service, Role::Viewer] {
        let r = api.execute(Some(role), HISTORY, json!({})).await;
        assert_eq!(error_code(&r).0, "FORBIDDEN", "{role:?}");
    }
    let r = api.execute(None, HISTORY, json!({})).await;
    assert_eq!(error_code(&r).0, "UNAUTHENTICATED");
    for bad in [
        json!({ "first": 0 }),
        json!({ "first": 101 }),
        json!({ "after": "nope" }),
    ] {
        let r = api.execute(Some(Role::Admin), HISTORY, bad.clone()).await;
        assert_eq!(error_code(&r).0, "INVALID_INPUT", "{bad}");
    }
}

#[tokio::test]
async fn the_alerts_subscription_streams_notices_to_admins_only() {
    let api = spawn_api().await;
    // Credit of €1, below the €5 default.
    api.mock().set_balance(Some(100.0));
    let id = api.engine.provider("mock").await.unwrap().config.id;
    api.engine.reload_provider(id);
    let mut providers = api.engine.watch_providers();
    tokio::time::timeout(
        WAIT,
        providers.wait_for(|all| all.iter().any(|p| p.health.credit.is_some())),
    )
    .await
    .unwrap()
    .unwrap();
    // A repeat on every 20 ms tick (no cool-down): the stream, which subscribes when first
    // polled, gets a notice without the test timing anything.
    start_alerts(
        &api,
        AlertsConfig {
            tick_ms: 20,
            cooldown_s: 0,
            ..AlertsConfig::default()
        },
    )
    .await;
    let request = async_graphql::Request::new(ALERTS).data(caller(Role::Admin));
    let mut stream = api.schema.execute_stream(request);
    let got = data(next(&mut stream).await.expect("a notice"));
    let alert = &got["alerts"];
    assert_eq!(alert["rule"], "LOW_CREDIT");
    assert_eq!(alert["subject"], "mock");
    assert_eq!(alert["state"], "FIRING");
    assert_eq!(alert["details"]["creditCents"], 100.0);

    for role in [Some(Role::Service), Some(Role::Viewer), None] {
        let mut request = async_graphql::Request::new(ALERTS);
        if let Some(role) = role {
            request = request.data(caller(role));
        }
        let mut stream = api.schema.execute_stream(request);
        let response = next(&mut stream).await.unwrap();
        let expected = if role.is_some() {
            "FORBIDDEN"
        } else {
            "UNAUTHENTICATED"
        };
        assert_eq!(error_code(&response).0, expected, "{role:?}");
        assert!(next(&mut stream).await.is_none());
    }
}
