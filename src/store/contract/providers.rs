//! Contract checks for providers (unique slugs, one default) and the statistics counters.

use super::{base_time, provider};
use chrono::{Duration, NaiveDate};
use smsgate_actors::domain::{
    MessageType, Money, ProviderId, ProviderKind, StatsDelta, StatsQuery,
};
use smsgate_actors::ports::{Store, StoreError};

pub async fn providers_round_trip_update_and_delete(store: &dyn Store) {
    let mut p = provider("smso");
    p.kind = ProviderKind::Smso;
    p.sender_id = Some("ACME".into());
    p.api_base_url = Some("https://app.smso.ro/api/v1".into());
    p.credentials = Some("gAAAAABencrypted".into());
    p.api_key_hint = Some("****3f9a".into());
    p.settings = serde_json::json!({"max_concurrency": 8, "template": {"to": "{{to}}"}});
    store.insert_provider(&p).await.unwrap();
    assert_eq!(store.provider(&p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.providers().await.unwrap(), vec![p.clone()]);

    p.name = "SMSO backup".into();
    p.priority = 20;
    p.is_active = false;
    p.features = vec![];
    p.credentials = None;
    p.settings = serde_json::json!({"max_concurrency": 2});
    p.updated_at = base_time() + Duration::minutes(5);
    store.update_provider(&p).await.unwrap();
    assert_eq!(store.provider(&p.id).await.unwrap(), Some(p.clone()));

    assert!(store.delete_provider(&p.id).await.unwrap());
    assert_eq!(store.provider(&p.id).await.unwrap(), None);
    assert!(!store.delete_provider(&p.id).await.unwrap());
    assert!(store.providers().await.unwrap().is_empty());
}

pub async fn provider_slug_is_unique(store: &dyn Store) {
    let smso = provider("smso");
    store.insert_provider(&smso).await.unwrap();
    let clash = provider("smso");
    let err = store.insert_provider(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.providers().await.unwrap(), vec![smso.clone()]);

    let mut twilio = provider("twilio");
    store.insert_provider(&twilio).await.unwrap();
    twilio.slug = "smso".into();
    let err = store.update_provider(&twilio).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let stored = store.provider(&twilio.id).await.unwrap().unwrap();
    assert_eq!(stored.slug, "twilio");

    // Keeping its own slug is no conflict; an unknown provider cannot be updated.
    store.update_provider(&smso).await.unwrap();
    let err = store
        .update_provider(&provider("vonage"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.providers().await.unwrap().len(), 2);
}

pub async fn exactly_one_default_after_set_default(store: &dyn Store) {
    let mut a = provider("a");
    a.is_default = true;
    let (b, c) = (provider("b"), provider("c"));
    for p in [&a, &b, &c] {
        store.insert_provider(p).await.unwrap();
    }
    let defaults = || async {
        let all = store.providers().await.unwrap();
        all.into_iter()
            .filter(|p| p.is_default)
            .map(|p| p.slug)
            .collect::<Vec<_>>()
    };
    assert_eq!(defaults().await, ["a"]);
    store.set_default_provider(&b.id).await.unwrap();
    assert_eq!(defaults().await, ["b"]);
    store.set_default_provider(&c.id).await.unwrap();
    store.set_default_provider(&c.id).await.unwrap();
    assert_eq!(defaults().await, ["c"]);

    let err = store
        .set_default_provider(&ProviderId::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(defaults().await, ["c"]);

    // A provider written as the default takes over rather than making two.
    let mut d = provider("d");
    d.is_default = true;
    store.insert_provider(&d).await.unwrap();
    assert_eq!(defaults().await, ["d"]);
    let mut b = store.provider(&b.id).await.unwrap().unwrap();
    b.is_default = true;
    store.update_provider(&b).await.unwrap();
    assert_eq!(defaults().await, ["b"]);
}

pub async fn statistics_add_up_across_commits(store: &dyn Store) {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let delta =
        |d: u32, provider: &str, t: MessageType| StatsDelta::empty(day(d), provider.into(), t);
    let otp = MessageType::Otp;

    let mut sent_twice = delta(24, "smso", otp);
    sent_twice.sent = 2;
    sent_twice.cost = Money::from_millicents(7_000);
    let mut delivered_once = delta(24, "smso", otp);
    delivered_once.sent = 1;
    delivered_once.delivered = 1;
    delivered_once.delivery_ms_sum = 1_500;
    delivered_once.delivery_count = 1;
    let mut failed = delta(25, "twilio", MessageType::Transactional);
    failed.failed = 1;
    // Two deltas for the same row in one call add up too.
    store
        .add_statistics(&[sent_twice, delivered_once, failed.clone()])
        .await
        .unwrap();

    let mut delivered_twice = delta(24, "smso", otp);
    delivered_twice.delivered = 2;
    delivered_twice.delivery_ms_sum = 3_000;
    delivered_twice.delivery_count = 2;
    let mut marketing = delta(26, "smso", MessageType::Marketing);
    marketing.sent = 5;
    store
        .add_statistics(&[delivered_twice, marketing.clone()])
        .await
        .unwrap();

    let mut day_one = delta(24, "smso", otp);
    day_one.sent = 3;
    day_one.delivered = 3;
    day_one.cost = Money::from_millicents(7_000);
    day_one.delivery_ms_sum = 4_500;
    day_one.delivery_count = 3;

    let query = |from: u32, to: u32, provider: Option<&str>| StatsQuery {
        from: day(from),
        to: day(to),
        provider: provider.map(str::to_owned),
    };
    let rows = store.statistics(&query(24, 25, None)).await.unwrap();
    assert_eq!(rows, vec![day_one.clone(), failed.clone()]);
    let rows = store
        .statistics(&query(24, 26, Some("smso")))
        .await
        .unwrap();
    assert_eq!(rows, vec![day_one, marketing]);
    let rows = store.statistics(&query(25, 25, None)).await.unwrap();
    assert_eq!(rows, vec![failed]);
    let rows = store.statistics(&query(27, 30, None)).await.unwrap();
    assert!(rows.is_empty());
}
