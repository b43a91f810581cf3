//! Limits shared by instances, which only a shared store can show: two instances' allowances
//! add up to one, not one each. Skips like `tests` when no server is configured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{test_uri, unique_database};
use super::*;
use crate::rate_limit::{LimitSettings, RateLimits};
use smsgate_actors::domain::{MessageType, E164};
use smsgate_actors::ports::{AcceptLimiter, Admission};
use std::sync::Arc;

async fn instance(uri: &str, db: &str, settings: LimitSettings) -> RateLimits {
    let store = MongoStore::connect(uri, db).await.unwrap();
    RateLimits::new(settings, &prometheus::Registry::new())
        .unwrap()
        .with_shared(Arc::new(store))
}

fn otp<'a>(sent_by: &'a str, to: &'a E164) -> Admission<'a> {
    Admission {
        sent_by: Some(sent_by),
        to,
        message_type: MessageType::Otp,
        segments: 1,
        estimated_cost: Some(smsgate_actors::domain::Money::from_cents(4.0)),
    }
}

#[tokio::test]
async fn two_instances_share_one_recipient_allowance_and_one_spend_ceiling() {
    let Some(uri) = test_uri("shared limits") else {
        return;
    };
    let db = unique_database();
    let settings = LimitSettings {
        per_token_per_second: 0,
        per_token_burst: 0,
        otp_per_recipient_per_hour: 5,
        transactional_per_recipient_per_hour: 0,
        marketing_per_recipient_per_hour: 0,
        spend_per_token_per_day_cents: 25,
    };
    let a = instance(&uri, &db, settings).await;
    let b = instance(&uri, &db, settings).await;
    let to = E164::parse("0755123456").unwrap();
    for limits in [&a, &b, &a, &b, &a] {
        limits.try_take(&otp("shop", &to)).await.unwrap();
    }
    let refusal = b.try_take(&otp("shop", &to)).await.unwrap_err();
    assert!(
        refusal.reason.contains("recipient's allowance"),
        "{refusal:?}"
    );
    assert!(a.try_take(&otp("shop", &to)).await.is_err());
    // A message not accepted after all gives its place back, for both.
    a.give_back(&otp("shop", &to)).await;
    b.try_take(&otp("shop", &to)).await.unwrap();

    // 4 cents each: 6 messages (24 cents) are counted; a 7th would make 28 > 25.
    let other = E164::parse("0755000001").unwrap();
    b.try_take(&otp("shop", &other)).await.unwrap();
    let refusal = a.try_take(&otp("shop", &other)).await.unwrap_err();
    assert!(
        refusal.reason.contains("daily spend ceiling"),
        "{refusal:?}"
    );
    assert!(a.try_take(&otp("other-token", &other)).await.is_ok());
}

#[tokio::test]
async fn two_instances_share_one_token_send_rate() {
    let Some(uri) = test_uri("shared token rate") else {
        return;
    };
    let db = unique_database();
    let settings = LimitSettings {
        per_token_per_second: 1,
        per_token_burst: 60,
        otp_per_recipient_per_hour: 0,
        transactional_per_recipient_per_hour: 0,
        marketing_per_recipient_per_hour: 0,
        spend_per_token_per_day_cents: 0,
    };
    let a = instance(&uri, &db, settings).await;
    let b = instance(&uri, &db, settings).await;
    let numbers: Vec<E164> = (0..61)
        .map(|i| E164::parse(&format!("07551{i:05}")).unwrap())
        .collect();
    // The counts are per 60 s window (the burst over the rate): start well inside one.
    let into_window = chrono::Utc::now().timestamp_millis().rem_euclid(60_000);
    if into_window > 50_000 {
        let left = u64::try_from(60_000 - into_window).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(left + 10)).await;
    }
    let mut taken = 0;
    for (i, to) in numbers.iter().enumerate() {
        let limits = if i % 2 == 0 { &a } else { &b };
        taken += usize::from(limits.try_take(&otp("shop", to)).await.is_ok());
    }
    assert_eq!(
        taken, 60,
        "one burst for the token, whichever instance a message reaches"
    );
}
