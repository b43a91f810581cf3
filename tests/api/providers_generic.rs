//! The generic HTTP provider end to end against a fake API shaped as its settings describe:
//! the exact request built from the template, credentials placed in a header, the id read by
//! its JSON pointer, an error inside a 200, and no status polling even when asked for.

use crate::fakes::{
    generic::{FakeGeneric, Mode, ID, KEY},
    spawn_with_providers, Provider,
};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;

fn generic(fake: &FakeGeneric, extra: Value) -> Provider {
    let mut settings = fake.settings();
    if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    Provider {
        slug: "acme",
        kind: ProviderKind::Http,
        base_url: format!("http://{}", fake.addr),
        sender: "ACME",
        credentials: json!({ "apiKey": KEY }),
        settings,
        priority: 0,
    }
}

#[tokio::test]
async fn the_generic_provider_sends_the_templated_json_and_never_polls() {
    let fake = FakeGeneric::start().await;
    // Asked to poll, with a short interval: the adapter has no status endpoint, so it must not.
    let settings = json!({ "status_poll": true, "status_poll_initial_ms": 20 });
    let (app, _) = spawn_with_providers(vec![generic(&fake, settings)], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Say \"hi\"\nnow" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;

    let sends = fake.journal.to_path("/v1/sms");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].method, "POST");
    assert_eq!(
        sends[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sends[0].header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&sends[0].body).unwrap();
    assert_eq!(
        body,
        json!({ "to": "+40722334455", "text": "Say \"hi\"\nnow", "from": "ACME", "ref": id })
    );
    assert_eq!(app.message(id).await["providerMessageId"], ID);

    // A second message through the same provider is the marker: by the time it is SENT, the
    // first has waited many poll intervals, and no request but the two sends ever arrived.
    let marker = app
        .send_sms(json!({ "to": "+40722334466", "body": "m" }))
        .await;
    app.wait_for_status(marker["id"].as_str().unwrap(), "SENT")
        .await;
    tokio::time::timeout(
        std::time::Duration::from_millis(300),
        fake.journal.wait_for("/", 3),
    )
    .await
    .expect_err("a request other than the two sends arrived");
    assert_eq!(fake.journal.all().len(), 2, "{:?}", fake.journal.all());
    // The adapter answers a status check without the network, so the fake cannot see one:
    // the engine's metrics count every status call it made.
    let metrics = app
        .client
        .get(app.internal_url("/metrics"))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"operation="send",provider="acme""#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"operation="status",provider="acme""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_error_inside_a_200_and_a_429_are_read_as_the_settings_say() {
    let fake = FakeGeneric::start().await;
    // The circuit stays closed through the failures below: the earlier messages keep failing
    // in the background, and an open circuit would hold the last one back for its cool-down.
    let settings = json!({ "breaker_consecutive_failures": 100, "breaker_window": 1000 });
    let (app, _) = spawn_with_providers(vec![generic(&fake, settings)], None).await;
    let refused = app
        .send_sms(json!({ "to": "+40722000000", "body": "x" }))
        .await;
    let refused = refused["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&refused, "RETRYING").await;
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { error { kind message } } }",
            json!({ "id": refused }),
        )
        .await;
    assert_eq!(
        answer["data"]["message"]["error"]["kind"], "REJECTED",
        "{answer}"
    );
    assert!(answer["data"]["message"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid destination"));

    fake.set_mode(Mode::Throttled);
    let limited = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let limited = limited["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&limited, "RETRYING").await;
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { error { kind } } }",
            json!({ "id": limited }),
        )
        .await;
    assert_eq!(
        answer["data"]["message"]["error"]["kind"], "RATE_LIMITED",
        "{answer}"
    );

    fake.set_mode(Mode::Status503);
    let busy = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    app.wait_for_status(busy["id"].as_str().unwrap(), "RETRYING")
        .await;

    // A 200 that is not JSON: it may have been taken, so it fails and is not sent again.
    fake.set_mode(Mode::Malformed);
    let garbled = app
        .send_sms(json!({ "to": "+40722334455", "body": "garbled" }))
        .await;
    app.wait_for_status(garbled["id"].as_str().unwrap(), "FAILED")
        .await;
    // Counted by body: the messages above are still being retried in the background.
    let garbled_sends =
        fake.journal.to_path("/v1/sms").into_iter().filter(|r| {
            serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["text"] == "garbled")
        });
    assert_eq!(garbled_sends.count(), 1);
}
