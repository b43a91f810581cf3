//! Faults after the request went out, where Twilio may or may not have the message: a 30 s
//! stall (it took it; seen through the 1 s timeout), an unreadable 201 (it took it), a time-out
//! on a request that never arrived. Twilio can list what it received, so each is looked up
//! rather than resent blindly; SMSO cannot, so its ambiguous send fails as INTERRUPTED.

use super::rig;
use crate::fakes::{
    smso::{self as fake_smso, FakeSmso, Mode as SmsoMode},
    spawn_with_providers,
    twilio::Mode,
    Provider,
};
use serde_json::json;
use smsgate_actors::domain::ProviderKind;

/// Two messages meet the fault; each ends as `expected` says; then the circuit opens and heals.
async fn looked_up(mode: Mode, label: &str, expected: &[&str], provider: &str) {
    let rig = rig().await;
    rig.twilio.set_mode(mode);
    let mut bodies = Vec::new();
    for i in 0..2 {
        let body = format!("{label} {i}");
        let id = rig.send(&body).await;
        let (message, events) = rig.settled(&id, "DELIVERED").await;
        assert_eq!(message["provider"], provider, "{events:?}");
        assert_eq!(events, expected);
        if provider == "twilio" {
            // The SID Twilio gave the message, found by the look-up.
            let taken = rig.twilio.taken();
            let sid = &taken.iter().find(|t| t.body == body).unwrap().sid;
            assert_eq!(message["providerMessageId"], sid.as_str());
        }
        bodies.push(body);
    }
    // The look-up is Twilio's list route, filtered as twilio.md §4 documents.
    let lookups: Vec<_> = rig
        .twilio
        .journal
        .all()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Messages.json"))
        .collect();
    assert_eq!(lookups.len(), 2, "one look-up per ambiguous send");
    let query: Vec<(String, String)> =
        form_urlencoded::parse(lookups[0].query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let has = |k: &str| query.iter().any(|(n, _)| n == k);
    assert!(has("To") && has("From") && has("DateSent>"), "{query:?}");
    bodies.extend(
        rig.open_then_heal(label, async { rig.twilio.set_mode(Mode::Ok) })
            .await,
    );
    rig.assert_each_taken_once(&bodies);
}

#[tokio::test]
async fn a_30s_stall_is_found_by_a_look_up_and_never_resent() {
    looked_up(
        Mode::Stall,
        "stall",
        &[
            "QUEUED",
            "SENDING twilio",
            "SENT twilio",
            "DELIVERED twilio",
        ],
        "twilio",
    )
    .await;
}

#[tokio::test]
async fn an_unreadable_answer_is_found_by_a_look_up_and_never_resent() {
    looked_up(
        Mode::Malformed,
        "malformed",
        &[
            "QUEUED",
            "SENDING twilio",
            "SENT twilio",
            "DELIVERED twilio",
        ],
        "twilio",
    )
    .await;
}

#[tokio::test]
async fn a_time_out_unknown_to_twilio_is_sent_once_elsewhere() {
    looked_up(
        Mode::Lost,
        "lost",
        &[
            "QUEUED",
            "SENDING twilio",
            "RETRYING twilio TIMEOUT",
            "SENDING smso",
            "SENT smso",
            "DELIVERED smso",
        ],
        "smso",
    )
    .await;
}

/// A listing longer than one page cannot prove the send never arrived: the look-up stays
/// undecided and the message fails as INTERRUPTED rather than risk a second copy.
#[tokio::test]
async fn a_look_up_that_cannot_rule_the_send_out_never_resends_it() {
    let rig = rig().await;
    rig.twilio.set_mode(Mode::Lost);
    rig.twilio.truncate_lists();
    let id = rig.send("undecided").await;
    let (message, events) = rig.settled(&id, "FAILED").await;
    assert_eq!(
        events,
        ["QUEUED", "SENDING twilio", "FAILED twilio INTERRUPTED"]
    );
    assert_eq!(message["attempts"], 1);
    let lookups = rig
        .twilio
        .journal
        .all()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Messages.json"))
        .count();
    assert_eq!(lookups, 3, "reconcile_attempts look-ups, then it gives up");
    assert_eq!(rig.taken("undecided"), 0);
    assert_eq!(rig.smso.journal.to_path("/api/v1/send").len(), 0);
}

/// SMSO cannot list what it received: a stalled send is FAILED as INTERRUPTED (the 'unknown,
/// not resent' state admins see), sent once, never tried elsewhere.
#[tokio::test]
async fn without_a_look_up_a_stalled_send_fails_as_interrupted_and_is_not_resent() {
    let smso = FakeSmso::start().await;
    smso.set_mode(SmsoMode::Stall);
    let providers = vec![Provider {
        slug: "smso",
        kind: ProviderKind::Smso,
        base_url: smso.base_url(),
        sender: fake_smso::SENDER,
        credentials: json!({ "apiKey": fake_smso::KEY }),
        settings: json!({ "request_timeout_ms": 1000 }),
        priority: 0,
    }];
    let (app, _) = spawn_with_providers(providers, None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "stalled at smso" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { error { kind } events { status provider } } }",
            json!({ "id": id }),
        )
        .await;
    let message = &answer["data"]["message"];
    assert_eq!(message["error"]["kind"], "INTERRUPTED", "{message}");
    let statuses: Vec<&str> = message["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "SENDING", "FAILED"]);
    assert_eq!(smso.journal.to_path("/api/v1/send").len(), 1);
}
