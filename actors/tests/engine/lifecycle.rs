//! Acceptance, the happy path, validation, idempotency, batching and statistics.

use crate::helpers::{harness, send, sms};
use chrono::Utc;
use futures::StreamExt;
use smsgate_actors::{
    domain::{Encoding, MessageFilter, MessageStatus, MessageType, PageRequest, StatsQuery},
    test_support::wait_for_status,
    EngineError, SendSms, UpdateFilter,
};
use std::time::Duration;

#[tokio::test]
async fn an_accepted_message_is_stored_as_queued_and_reaches_delivered() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    let accepted = send(&h.engine, "0755123456", "Codul tau este 123456").await;
    assert_eq!(accepted.status, MessageStatus::Queued);
    assert_eq!(accepted.to.as_str(), "+40755123456");

    let done = wait_for_status(&h.engine, &accepted.id, MessageStatus::Delivered).await;
    let statuses: Vec<_> = done.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Delivered
        ]
    );
    let stored = h.engine.message(accepted.id.as_str()).await.unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    assert_eq!(stored.provider.as_deref(), Some("mock"));
    assert_eq!(stored.attempts, 1);
    assert!(stored.provider_message_id.is_some());
    assert_eq!(stored.cost.map(|c| c.cents()), Some(1.0));
    assert!(stored.sent_at.is_some() && stored.delivered_at.is_some());
    assert_eq!(fakes[0].calls()[0].to.as_str(), "+40755123456");
}

#[tokio::test]
async fn subscribers_see_every_stored_change_in_order() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let filter = UpdateFilter {
        messages: MessageFilter {
            to: smsgate_actors::domain::E164::parse("+40755000111").ok(),
            ..MessageFilter::default()
        },
        ..UpdateFilter::default()
    };
    let mut updates = h.engine.subscribe(filter).await.unwrap();
    let m = send(&h.engine, "+40755000111", "hello").await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let next = tokio::time::timeout(Duration::from_secs(5), updates.next())
            .await
            .expect("an update in time")
            .expect("stream open");
        assert_eq!(next.id, m.id);
        seen.push(next.status);
    }
    assert_eq!(
        seen,
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Delivered
        ]
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_their_field_and_store_nothing() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let cases: Vec<(SendSms, &str)> = vec![
        (sms("12", "hi"), "to"),
        (sms("not a number", "hi"), "to"),
        (sms("0755123456", ""), "body"),
        (sms("0755123456", "   "), "body"),
        (sms("0755123456", &"a".repeat(153 * 10 + 1)), "body"),
        (
            SendSms {
                provider: Some("nope".into()),
                ..sms("0755123456", "hi")
            },
            "provider",
        ),
        (
            SendSms {
                idempotency_key: Some("k".repeat(200)),
                ..sms("0755123456", "hi")
            },
            "idempotencyKey",
        ),
    ];
    for (request, field) in cases {
        match h.engine.send(request.clone()).await {
            Err(EngineError::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{request:?}"),
            other => panic!("{request:?} should be refused on {field}, got {other:?}"),
        }
    }
    assert_eq!(h.store.message_count(), 0);
}

#[tokio::test]
async fn ten_parts_are_accepted_and_counted() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let m = send(&h.engine, "0755123456", &"a".repeat(153 * 10)).await;
    assert_eq!((m.encoding, m.segments), (Encoding::Gsm7, 10));
    let m = send(&h.engine, "0755123456", "Programare confirmată").await;
    assert_eq!((m.encoding, m.segments), (Encoding::Ucs2, 1));
}

#[tokio::test]
async fn without_any_provider_a_send_is_refused_as_no_provider() {
    let (h, _) = harness(&[]).await;
    let err = h.engine.send(sms("0755123456", "hi")).await.unwrap_err();
    assert!(matches!(err, EngineError::NoProvider(_)), "{err:?}");
    assert_eq!(h.store.message_count(), 0);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_message_and_refuses_a_different_request() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    let keyed = |body: &str| SendSms {
        idempotency_key: Some("order-42".into()),
        ..sms("0755123456", body)
    };
    let first = h.engine.send(keyed("code 1")).await.unwrap();
    wait_for_status(&h.engine, &first.id, MessageStatus::Delivered).await;
    let again = h.engine.send(keyed("code 1")).await.unwrap();
    assert_eq!(again.id, first.id);
    let other = h.engine.send(keyed("code 2")).await.unwrap_err();
    assert!(matches!(other, EngineError::Conflict(_)), "{other:?}");
    let longer = h
        .engine
        .send(SendSms {
            validity_secs: Some(3_600),
            ..keyed("code 1")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(longer, EngineError::Conflict(_)),
        "another validity is another request: {longer:?}"
    );
    assert_eq!(fakes[0].call_count(), 1, "the duplicate was not sent again");
}

#[tokio::test]
async fn concurrent_duplicates_resolve_to_one_message() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    let sends = (0..20).map(|_| {
        h.engine.send(SendSms {
            idempotency_key: Some("same".into()),
            ..sms("0755123456", "once")
        })
    });
    let results = futures::future::join_all(sends).await;
    let ids: std::collections::HashSet<_> = results
        .into_iter()
        .map(|r| r.expect("every duplicate is answered").id)
        .collect();
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    wait_for_status(&h.engine, &id, MessageStatus::Delivered).await;
    assert_eq!(fakes[0].call_count(), 1);
    assert_eq!(h.store.message_count(), 1);
}

#[tokio::test]
async fn concurrent_sends_share_commits() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let sends = (0..200).map(|i| h.engine.send(sms("0755123456", &format!("m{i}"))));
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(
        h.store.commit_count() < 200,
        "200 inserts took {} commits",
        h.store.commit_count()
    );
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let (h, _) = harness(&[("mock", true, 0)]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut r = sms("0755123456", &format!("t{i}"));
        if i % 2 == 0 {
            r.message_type = MessageType::Marketing;
        }
        ids.push(h.engine.send(r).await.unwrap().id);
    }
    for id in &ids {
        wait_for_status(&h.engine, id, MessageStatus::Delivered).await;
    }
    let first = h
        .engine
        .messages(
            &MessageFilter::default(),
            &PageRequest {
                first: 3,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(first.has_next_page);
    let second = h
        .engine
        .messages(
            &MessageFilter::default(),
            &PageRequest {
                first: 3,
                after: first.items.last().map(|m| m.id.clone()),
            },
        )
        .await
        .unwrap();
    assert!(!second.has_next_page);
    let listed: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|m| m.id.clone())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let marketing = h
        .engine
        .messages(
            &MessageFilter {
                message_type: Some(MessageType::Marketing),
                ..MessageFilter::default()
            },
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(marketing.items.len(), 3);
}

#[tokio::test]
async fn statistics_count_sent_delivered_and_cost_per_provider_and_day() {
    let (h, fakes) = harness(&[("mock", true, 0)]).await;
    fakes[0].push(smsgate_actors::test_support::Scripted::Fail(
        smsgate_actors::ports::ProviderErrorKind::InvalidRecipient,
    ));
    let failed = send(&h.engine, "0755123456", "x").await;
    wait_for_status(&h.engine, &failed.id, MessageStatus::Failed).await;
    for i in 0..3 {
        let m = send(&h.engine, "0755123456", &format!("ok {i}")).await;
        wait_for_status(&h.engine, &m.id, MessageStatus::Delivered).await;
    }
    let today = Utc::now().date_naive();
    let stats = h
        .engine
        .statistics(StatsQuery::days(today, today))
        .await
        .unwrap();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert_eq!(s.provider, "mock");
    assert_eq!((s.sent_count, s.delivered_count, s.failed_count), (3, 3, 1));
    assert_eq!(s.total_cost.cents(), 3.0);
    assert!(s.avg_delivery_ms.is_some());
}

/// Allows `left` messages in all; counts what it gave back.
struct CountingLimiter {
    left: std::sync::Mutex<u32>,
}

#[async_trait::async_trait]
impl smsgate_actors::ports::AcceptLimiter for CountingLimiter {
    async fn try_take(
        &self,
        _: &smsgate_actors::ports::Admission<'_>,
    ) -> Result<(), smsgate_actors::ports::Refusal> {
        let mut left = self.left.lock().unwrap();
        if *left == 0 {
            return Err(smsgate_actors::ports::Refusal {
                retry_after: Duration::from_secs(60),
                reason: "none left".into(),
            });
        }
        *left -= 1;
        Ok(())
    }

    async fn give_back(&self, _: &smsgate_actors::ports::Admission<'_>) {
        *self.left.lock().unwrap() += 1;
    }
}

#[tokio::test]
async fn idempotent_repeats_never_use_the_recipients_allowance() {
    use smsgate_actors::{
        ports::Store,
        test_support::{fast_config, provider_config, MemoryStore, ScriptedFactory, TestSealer},
        Engine, EngineDeps,
    };
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let fake = factory.register("mock");
    store
        .insert_provider(&provider_config("mock", true, 0))
        .await
        .unwrap();
    let limiter = std::sync::Arc::new(CountingLimiter {
        left: std::sync::Mutex::new(1),
    });
    let engine = Engine::start(EngineDeps {
        store: store.clone(),
        providers: factory,
        metrics: std::sync::Arc::new(smsgate_actors::ports::NoMetrics),
        sealer: std::sync::Arc::new(TestSealer),
        limiter: Some(limiter.clone()),
        config: fast_config(),
    })
    .await
    .unwrap();
    let keyed = SendSms {
        idempotency_key: Some("otp-1".into()),
        message_type: MessageType::Otp,
        ..sms("0755123456", "Codul: 1234")
    };
    // Twenty concurrent duplicates: one message, one place used.
    let answers = futures::future::join_all((0..20).map(|_| engine.send(keyed.clone()))).await;
    let ids: std::collections::HashSet<_> = answers
        .into_iter()
        .map(|a| a.expect("a duplicate is answered, not rate limited").id)
        .collect();
    assert_eq!(ids.len(), 1);
    // A later repeat is still answered, though the allowance is used up...
    let again = engine.send(keyed.clone()).await.unwrap();
    assert!(ids.contains(&again.id));
    // ...while a new message to the number is refused.
    let other = engine
        .send(SendSms {
            message_type: MessageType::Otp,
            ..sms("0755123456", "Codul: 9999")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(other, EngineError::RateLimited { .. }),
        "{other:?}"
    );
    // A message the store could not take gives its place back.
    *limiter.left.lock().unwrap() = 1;
    store.set_failing(true);
    assert!(engine.send(sms("0755123456", "lost")).await.is_err());
    store.set_failing(false);
    assert_eq!(*limiter.left.lock().unwrap(), 1);
    wait_for_status(&engine, &again.id, MessageStatus::Delivered).await;
    assert_eq!(fake.call_count(), 1);
}
