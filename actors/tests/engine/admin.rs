//! Provider administration: changes are validated, sealed, stored and live when the call returns,
//! and messages in flight survive a reconfiguration.

use crate::helpers::{harness, send, sms};
use serde_json::json;
use smsgate_actors::{
    domain::{MessageStatus, ProviderId, ProviderKind},
    ports::Store,
    test_support::{wait_for_status, TestSealer},
    EngineError, NewProvider, ProviderPatch, SendSms,
};

fn smso(slug: &str, api_key: &str) -> NewProvider {
    NewProvider {
        name: format!("SMSO {slug}"),
        slug: slug.into(),
        kind: Some(ProviderKind::Smso),
        priority: 5,
        is_active: true,
        credentials: Some(json!({ "apiKey": api_key })),
        ..NewProvider::default()
    }
}

fn pinned(slug: &str) -> SendSms {
    SendSms {
        provider: Some(slug.into()),
        ..sms("0755123456", "pinned")
    }
}

#[tokio::test]
async fn a_created_provider_takes_messages_at_once_and_its_credentials_are_sealed() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let extra = h.factory.register("extra");
    let view = h
        .engine
        .create_provider(smso("extra", "sk-live-0123456789ab3f9a"))
        .await
        .unwrap();
    assert!(view.running);
    assert!(!view.config.is_default, "mock stays the default");
    assert_eq!(view.config.api_key_hint.as_deref(), Some("****3f9a"));

    let stored = h.store.provider(&view.config.id).await.unwrap().unwrap();
    let sealed = stored.credentials.unwrap();
    assert!(!sealed.contains("0123456789ab3f9a"));
    assert_eq!(
        TestSealer::open(&sealed),
        Some(json!({ "apiKey": "sk-live-0123456789ab3f9a" }))
    );

    let message = h.engine.send(pinned("extra")).await.unwrap();
    wait_for_status(&h.engine, &message.id, MessageStatus::Delivered).await;
    assert_eq!(extra.call_count(), 1);
}

#[tokio::test]
async fn bad_provider_input_is_refused_by_field_and_nothing_is_stored() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let cases = [
        (
            NewProvider {
                slug: "Bad Slug".into(),
                ..smso("x", "k")
            },
            "slug",
        ),
        (
            NewProvider {
                kind: None,
                ..smso("x", "k")
            },
            "kind",
        ),
        (
            NewProvider {
                name: " ".into(),
                ..smso("x", "k")
            },
            "name",
        ),
        (
            NewProvider {
                credentials: None,
                ..smso("x", "k")
            },
            "credentials",
        ),
        (
            NewProvider {
                kind: Some(ProviderKind::Twilio),
                credentials: Some(json!({ "accountSid": "AC1" })),
                ..smso("x", "k")
            },
            "credentials.authToken",
        ),
        (
            NewProvider {
                api_base_url: Some("ftp://x".into()),
                ..smso("x", "k")
            },
            "apiBaseUrl",
        ),
        (
            NewProvider {
                settings: Some(json!([1])),
                ..smso("x", "k")
            },
            "settings",
        ),
    ];
    for (input, expected) in cases {
        match h.engine.create_provider(input).await {
            Err(EngineError::InvalidInput { field, .. }) => assert_eq!(field, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
    assert_eq!(h.store.providers().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_taken_slug_conflicts_and_an_unknown_id_is_not_found() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let taken = h
        .engine
        .create_provider(NewProvider {
            kind: Some(ProviderKind::Mock),
            credentials: None,
            ..smso("mock", "")
        })
        .await;
    assert!(matches!(taken, Err(EngineError::Conflict(_))), "{taken:?}");
    let unknown = ProviderId::generate().to_string();
    for result in [
        h.engine
            .update_provider(&unknown, ProviderPatch::default())
            .await
            .map(|_| ()),
        h.engine.activate_provider(&unknown).await.map(|_| ()),
        h.engine.delete_provider(&unknown).await.map(|_| ()),
        h.engine.delete_provider("nonsense").await.map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(EngineError::NotFound { .. })),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn activating_a_provider_makes_it_the_only_default_and_routes_to_it() {
    let (h, fakes) = harness(&[("first", true, 0), ("second", false, 1)]).await;
    let second = h.engine.configured_provider("second").await.unwrap();
    h.engine
        .activate_provider(second.config.id.as_str())
        .await
        .unwrap();

    let defaults: Vec<String> = h
        .store
        .providers()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.is_default)
        .map(|p| p.slug)
        .collect();
    assert_eq!(defaults, ["second"]);
    let listed = h.engine.configured_providers().await.unwrap();
    assert_eq!(
        listed[0].config.slug, "second",
        "the default is listed first"
    );

    let message = send(&h.engine, "0755123456", "to the new default").await;
    let done = wait_for_status(&h.engine, &message.id, MessageStatus::Delivered).await;
    assert_eq!(done.provider.as_deref(), Some("second"));
    assert_eq!(fakes[0].call_count(), 0);
}

#[tokio::test]
async fn a_deactivated_provider_stops_taking_messages_and_a_deleted_one_is_gone() {
    let (h, fakes) = harness(&[("first", true, 0), ("second", false, 1)]).await;
    let second = h.engine.configured_provider("second").await.unwrap();
    let id = second.config.id.to_string();
    let off = h
        .engine
        .update_provider(
            &id,
            ProviderPatch {
                is_active: Some(false),
                ..ProviderPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!off.config.is_active && !off.running);
    assert!(matches!(
        h.engine.send(pinned("second")).await,
        Err(EngineError::NoProvider(_))
    ));

    h.engine.delete_provider(&id).await.unwrap();
    assert!(matches!(
        h.engine.configured_provider("second").await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(matches!(
        h.engine.send(pinned("second")).await,
        Err(EngineError::InvalidInput {
            field: "provider",
            ..
        })
    ));
    assert_eq!(fakes[1].call_count(), 0);

    let first = h.engine.configured_provider("first").await.unwrap();
    let refused = h.engine.delete_provider(first.config.id.as_str()).await;
    assert!(refused.is_ok(), "the last provider may go: {refused:?}");
}

#[tokio::test]
async fn the_default_cannot_be_deleted_while_others_exist() {
    let (h, _) = harness(&[("first", true, 0), ("second", false, 1)]).await;
    let first = h.engine.configured_provider("first").await.unwrap();
    let refused = h.engine.delete_provider(first.config.id.as_str()).await;
    assert!(
        matches!(refused, Err(EngineError::Conflict(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn calls_in_flight_during_a_reconfiguration_are_not_lost() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    let mock = &fakes[0];
    mock.hold();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            send(&h.engine, "0755123456", &format!("in flight {i}"))
                .await
                .id,
        );
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), mock.wait_for_calls(3))
        .await
        .expect("three calls in flight");

    let id = h
        .engine
        .configured_provider("mock")
        .await
        .unwrap()
        .config
        .id;
    h.engine
        .update_provider(
            id.as_str(),
            ProviderPatch {
                priority: Some(7),
                sender_id: Some(Some("Shop".into())),
                ..ProviderPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(h.factory.build_count(), 2, "the actor was restarted");
    mock.release(3);
    for id in &ids {
        wait_for_status(&h.engine, id, MessageStatus::Delivered).await;
    }
    // The restarted actor uses the new configuration.
    let after = send(&h.engine, "0755123456", "after").await;
    mock.release(1);
    wait_for_status(&h.engine, &after.id, MessageStatus::Delivered).await;
    assert_eq!(mock.calls().last().unwrap().sender.as_deref(), Some("Shop"));
}

#[tokio::test]
async fn messages_sent_while_a_provider_is_reconfigured_repeatedly_all_arrive() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let id = h
        .engine
        .configured_provider("mock")
        .await
        .unwrap()
        .config
        .id;
    let engine = h.engine.clone();
    let sender = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..40 {
            ids.push(
                engine
                    .send(sms("0755123456", &format!("m{i}")))
                    .await
                    .unwrap()
                    .id,
            );
            tokio::task::yield_now().await;
        }
        ids
    });
    for priority in 0..5 {
        h.engine
            .update_provider(
                id.as_str(),
                ProviderPatch {
                    priority: Some(priority),
                    ..ProviderPatch::default()
                },
            )
            .await
            .unwrap();
    }
    for id in sender.await.unwrap() {
        wait_for_status(&h.engine, &id, MessageStatus::Delivered).await;
    }
}

#[tokio::test]
async fn a_test_sms_goes_through_the_named_provider_and_reports_its_outcome() {
    let (h, fakes) = harness(&[("first", true, 0), ("second", false, 1)]).await;
    let second = h.engine.configured_provider("second").await.unwrap();
    let message = h
        .engine
        .send_test(
            second.config.id.as_str(),
            "0755123456",
            "hello from the admin",
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(message.status, MessageStatus::Delivered);
    assert_eq!(message.provider.as_deref(), Some("second"));
    assert_eq!(fakes[0].call_count(), 0);
}
