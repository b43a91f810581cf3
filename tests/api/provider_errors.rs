//! Error kinds end to end that the per-provider files leave out: invalid credentials fail over
//! (SMSO to Twilio) and raise one alert, a rate-limited send waits at least the provider's
//! `Retry-After`, and each Twilio error (429, 500, timeout, garbled, invalid number).

use crate::fakes::{
    smso::{self as fake_smso, FakeSmso, Mode},
    spawn_with_providers, spawn_with_providers_and_file,
    twilio::{self as fake_twilio, FakeTwilio, Mode as TwMode},
    Provider,
};
use serde_json::json;
use smsgate_actors::domain::ProviderKind;

fn smso(fake: &FakeSmso, key: &str) -> Provider {
    Provider {
        slug: "smso",
        kind: ProviderKind::Smso,
        base_url: fake.base_url(),
        sender: fake_smso::SENDER,
        credentials: json!({ "apiKey": key }),
        settings: json!({}),
        priority: 0,
    }
}

async fn events_with_times(app: &crate::helpers::TestApp, id: &str) -> Vec<(String, String)> {
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { events { status at provider error { kind } } } }",
            json!({ "id": id }),
        )
        .await;
    answer["data"]["message"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let kind = e["error"]["kind"].as_str().unwrap_or("");
            (
                format!("{}:{kind}", e["status"].as_str().unwrap()),
                e["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn invalid_smso_credentials_fail_over_to_twilio() {
    let smso_fake = FakeSmso::start().await;
    let tw = FakeTwilio::start().await;
    let twilio = Provider {
        slug: "twilio",
        kind: ProviderKind::Twilio,
        base_url: tw.base_url(),
        sender: fake_twilio::FROM,
        credentials: json!({ "accountSid": fake_twilio::SID, "authToken": fake_twilio::TOKEN }),
        settings: json!({}),
        priority: 1,
    };
    let (app, _) =
        spawn_with_providers(vec![smso(&smso_fake, "a-wrong-key-123"), twilio], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    let events = events_with_times(&app, id).await;
    let statuses: Vec<&str> = events.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "QUEUED:",
            "SENDING:",
            "RETRYING:INVALID_CREDENTIALS",
            "SENDING:",
            "SENT:"
        ]
    );
    assert_eq!(app.message(id).await["provider"], "twilio");
    assert_eq!(tw.journal.to_path("/Messages.json").len(), 1);
}

#[tokio::test]
async fn a_rate_limited_send_waits_at_least_the_retry_after_it_was_given() {
    let fake = FakeSmso::start().await;
    // The fake answers 409 with `Retry-After: 2` (seconds, the header's resolution).
    fake.set_mode(Mode::Throttled);
    let (app, _) = spawn_with_providers(vec![smso(&fake, fake_smso::KEY)], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "RETRYING").await;
    fake.set_mode(Mode::Ok);
    app.wait_for_status(id, "SENT").await;
    let events = events_with_times(&app, id).await;
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(&events[i].1).unwrap();
    assert_eq!(events[2].0, "RETRYING:RATE_LIMITED", "{events:?}");
    assert_eq!(events[3].0, "SENDING:", "{events:?}");
    let waited = at(3) - at(2);
    assert!(
        waited >= chrono::Duration::seconds(2),
        "retried after {waited}"
    );
    let sends = fake.journal.to_path("/api/v1/send");
    assert_eq!(sends.len(), 2);
}

fn twilio_only(tw: &FakeTwilio, token: &str) -> Provider {
    Provider {
        slug: "twilio",
        kind: ProviderKind::Twilio,
        base_url: tw.base_url(),
        sender: fake_twilio::FROM,
        credentials: json!({ "accountSid": fake_twilio::SID, "authToken": token }),
        // Short timeout for the stall; the circuit stays closed through the failures below; no
        // look-up of ambiguous sends, so this shows what a provider without one does (the
        // look-up is in faults::ambiguous).
        settings: json!({ "request_timeout_ms": 500, "breaker_consecutive_failures": 100, "breaker_window": 1000, "reconcile_attempts": 0 }),
        priority: 0,
    }
}

#[tokio::test]
async fn a_refused_twilio_token_is_invalid_credentials_with_an_alert_in_the_log() {
    let tw = FakeTwilio::start().await;
    let (app, _) = spawn_with_providers_and_file(
        vec![twilio_only(&tw, "wrong-token-0000")],
        None,
        Some("[alerts]\ntick_ms = 50\n"),
    )
    .await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "RETRYING").await;
    let events = events_with_times(&app, id).await;
    assert_eq!(events[2].0, "RETRYING:INVALID_CREDENTIALS", "{events:?}");
    // The provider_rejected alert tells the admin at the first refusal.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let history = app
            .graphql(
                "{ alertHistory(rule: PROVIDER_REJECTED) { edges { node { subject state message } } } }",
                json!({}),
            )
            .await;
        let edges = history["data"]["alertHistory"]["edges"].as_array().cloned();
        if let Some(node) = edges.as_deref().and_then(|e| e.first()) {
            assert_eq!(node["node"]["subject"], "twilio", "{history}");
            assert_eq!(node["node"]["state"], "FIRING", "{history}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no provider_rejected alert: {history}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let logs = smsgate::telemetry::captured_logs();
    // The log is shared by the tests of this binary: look for this provider's alert.
    assert!(
        logs.lines().any(|l| l.contains("provider_rejected")
            && l.contains("ALERT: provider twilio refuses our credentials")),
        "no alert logged"
    );
    assert!(
        !logs.contains("wrong-token-0000"),
        "the log leaks the token"
    );
}

#[tokio::test]
async fn twilio_errors_each_lead_where_the_design_says() {
    let tw = FakeTwilio::start().await;
    let (app, _) = spawn_with_providers(vec![twilio_only(&tw, fake_twilio::TOKEN)], None).await;
    let send = |mode: TwMode| {
        let (app, tw) = (&app, &tw);
        async move {
            tw.set_mode(mode);
            // The mode is the body, so each message's requests can be told apart at the fake.
            let sent = app
                .send_sms(json!({ "to": "+40722334455", "body": format!("{mode:?}") }))
                .await;
            sent["id"].as_str().unwrap().to_owned()
        }
    };
    // 429/20429 with Retry-After: retried, no sooner than it said.
    let limited = send(TwMode::TooMany).await;
    app.wait_for_status(&limited, "RETRYING").await;
    tw.set_mode(TwMode::Ok);
    app.wait_for_status(&limited, "SENT").await;
    let events = events_with_times(&app, &limited).await;
    assert_eq!(events[2].0, "RETRYING:RATE_LIMITED", "{events:?}");
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(&events[i].1).unwrap();
    assert!(at(3) - at(2) >= chrono::Duration::seconds(1), "{events:?}");

    // 500: retried.
    let failing = send(TwMode::Status500).await;
    app.wait_for_status(&failing, "RETRYING").await;
    let events = events_with_times(&app, &failing).await;
    assert_eq!(events[2].0, "RETRYING:PROVIDER_UNAVAILABLE", "{events:?}");

    // No answer in time, or one that cannot be read: failed, never sent twice.
    for mode in [TwMode::Stall, TwMode::Malformed] {
        let id = send(mode).await;
        app.wait_for_status(&id, "FAILED").await;
        let events = events_with_times(&app, &id).await;
        assert_eq!(
            events.last().unwrap().0,
            "FAILED:INTERRUPTED",
            "{mode:?} {events:?}"
        );
        let body = format!("{mode:?}");
        let sends = tw.journal.to_path("/Messages.json");
        let this_one = sends
            .iter()
            .filter(|r| r.form().iter().any(|(k, v)| k == "Body" && *v == body));
        assert_eq!(this_one.count(), 1, "{mode:?}");
    }

    // 400/21211: invalid number, failed at once.
    tw.set_mode(TwMode::Ok);
    let bad = app
        .send_sms(json!({ "to": "+40722000000", "body": "x" }))
        .await;
    let bad = bad["id"].as_str().unwrap();
    app.wait_for_status(bad, "FAILED").await;
    let events = events_with_times(&app, bad).await;
    assert_eq!(
        events.last().unwrap().0,
        "FAILED:INVALID_RECIPIENT",
        "{events:?}"
    );
}
