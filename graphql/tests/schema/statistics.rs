//! statistics: per provider per day figures after deliveries.

use crate::helpers::*;
use chrono::{Days, Utc};
use serde_json::json;
use smsgate_actors::domain::MessageStatus;
use smsgate_actors::domain::Role;

const STATISTICS: &str = r#"
    query Stats($from: Date!, $to: Date!, $provider: String) {
        statistics(from: $from, to: $to, provider: $provider) {
            day provider sentCount deliveredCount failedCount totalCost avgDeliveryTime
        }
    }"#;

#[tokio::test]
async fn statistics_count_what_was_sent_delivered_and_charged() {
    let api = spawn_api().await;
    let mut ids = Vec::new();
    for body in ["one", "two", &"a".repeat(200)] {
        ids.push(api.send(send_input("+40755123456", body)).await);
    }
    for id in &ids {
        api.wait_for(id, MessageStatus::Delivered).await;
    }

    // Around midnight the messages may fall on either day: ask for both sides of today.
    let today = Utc::now().date_naive();
    let vars = json!({
        "from": today.checked_sub_days(Days::new(1)).unwrap().to_string(),
        "to": today.checked_add_days(Days::new(1)).unwrap().to_string(),
    });
    let data = api.admin(STATISTICS, vars.clone()).await;
    let rows = data["statistics"].as_array().unwrap();
    let total = |field: &str| -> f64 { rows.iter().map(|r| r[field].as_f64().unwrap()).sum() };
    assert!(rows.iter().all(|r| r["provider"] == "mock"), "{rows:?}");
    assert_eq!(total("sentCount"), 3.0);
    assert_eq!(total("deliveredCount"), 3.0);
    assert_eq!(total("failedCount"), 0.0);
    // 1 cent per part; the 200-character body needs 2 parts.
    assert_eq!(total("totalCost"), 4.0);
    assert!(rows
        .iter()
        .all(|r| r["avgDeliveryTime"].as_f64().is_some_and(|ms| ms >= 0.0)));
    assert!(rows
        .iter()
        .all(|r| r["day"].as_str().is_some_and(|d| d.len() == 10)));

    let mut other = vars;
    other["provider"] = json!("backup");
    let data = api.admin(STATISTICS, other).await;
    assert_eq!(data["statistics"], json!([]));
}

const GROUPED: &str = r#"
    query Stats($from: Date!, $to: Date!, $type: MessageType, $groupBy: StatisticsGroupBy,
                $byType: Boolean) {
        statistics(from: $from, to: $to, type: $type, groupBy: $groupBy, byType: $byType) {
            day hour provider messageType sentCount deliveredCount avgDeliveryTime p95DeliveryTime
        }
    }"#;

#[tokio::test]
async fn statistics_group_by_hour_and_by_type_with_a_p95() {
    let api = spawn_api().await;
    let mut otp = send_input("+40755123456", "123456");
    otp["type"] = json!("OTP");
    let mut ids = vec![api.send(otp).await];
    for body in ["one", "two"] {
        ids.push(api.send(send_input("+40755123456", body)).await);
    }
    for id in &ids {
        api.wait_for(id, MessageStatus::Delivered).await;
    }
    let today = Utc::now().date_naive();
    let vars = |extra: serde_json::Value| {
        let mut v = json!({
            "from": today.checked_sub_days(Days::new(1)).unwrap().to_string(),
            "to": today.checked_add_days(Days::new(1)).unwrap().to_string(),
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let sum = |rows: &[serde_json::Value], field: &str| -> i64 {
        rows.iter().map(|r| r[field].as_i64().unwrap()).sum()
    };

    let data = api.admin(GROUPED, vars(json!({ "groupBy": "HOUR" }))).await;
    let hours = data["statistics"].as_array().unwrap().clone();
    assert!(!hours.is_empty());
    assert_eq!(sum(&hours, "deliveredCount"), 3);
    for row in &hours {
        let hour = row["hour"].as_str().unwrap();
        assert!(hour.ends_with(":00:00.000Z"), "an hour's start: {hour}");
        assert!(hour.starts_with(row["day"].as_str().unwrap()));
        assert_eq!(row["messageType"], json!(null));
        let p95 = row["p95DeliveryTime"].as_f64().unwrap();
        let avg = row["avgDeliveryTime"].as_f64().unwrap();
        assert!(
            p95 >= avg,
            "the bucket bound is never below the times: {row}"
        );
    }

    let data = api.admin(GROUPED, vars(json!({ "byType": true }))).await;
    let by_type = data["statistics"].as_array().unwrap().clone();
    let of = |t: &str| -> Vec<serde_json::Value> {
        by_type
            .iter()
            .filter(|r| r["messageType"] == t)
            .cloned()
            .collect()
    };
    assert_eq!(sum(&of("OTP"), "sentCount"), 1);
    assert_eq!(sum(&of("TRANSACTIONAL"), "sentCount"), 2);
    assert!(by_type.iter().all(|r| r["hour"].is_null()));

    let data = api.admin(GROUPED, vars(json!({ "type": "OTP" }))).await;
    let otp_only = data["statistics"].as_array().unwrap().clone();
    assert_eq!(sum(&otp_only, "sentCount"), 1);
    assert!(otp_only.iter().all(|r| r["messageType"] == "OTP"));

    let far = json!({ "from": "2026-01-01", "to": "2026-06-01", "groupBy": "HOUR" });
    let response = api.execute(Some(Role::Admin), GROUPED, far).await;
    assert_eq!(
        error_code(&response),
        ("INVALID_INPUT".to_owned(), Some("to".to_owned()))
    );
}
