//! statistics: per provider per day figures after deliveries.

use crate::helpers::*;
use chrono::{Days, Utc};
use serde_json::json;
use smsgate_actors::domain::MessageStatus;

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
