//! Contract checks for providers (unique slugs, one default).

use super::{base_time, provider};
use chrono::Duration;
use smsgate_actors::domain::{ProviderId, ProviderKind};
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
    p.webhook_secret = Some("rotated-secret".into());
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
