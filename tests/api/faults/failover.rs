//! Faults where nothing went out (refused connection, 500, 503, 429, refused credentials, no
//! credit): each message fails over to SMSO at once and is delivered there; the circuit opens
//! after two failures, then a probe closes it once the fault is lifted.

use super::{rig, Rig};
use crate::fakes::twilio::Mode;

/// Two messages meet the fault and fail over; the circuit opens; a third goes straight to
/// SMSO; the fault is lifted; after the cool-down one probe through Twilio closes it.
async fn fails_over_and_heals(rig: &Rig, kind: &str, lift: impl std::future::Future<Output = ()>) {
    let mut bodies = Vec::new();
    for i in 0..2 {
        let body = format!("{kind} {i}");
        let id = rig.send(&body).await;
        let (message, events) = rig.settled(&id, "DELIVERED").await;
        assert_eq!(message["provider"], "smso");
        assert_eq!(message["attempts"], 2);
        assert_eq!(
            events,
            [
                "QUEUED".to_owned(),
                "SENDING twilio".into(),
                format!("RETRYING twilio {kind}"),
                "SENDING smso".into(),
                "SENT smso".into(),
                "DELIVERED smso".into(),
            ]
        );
        bodies.push(body);
    }
    bodies.extend(rig.open_then_heal(kind, lift).await);
    rig.assert_each_taken_once(&bodies);
}

async fn with_mode(mode: Mode, kind: &str) {
    let rig = rig().await;
    rig.twilio.set_mode(mode);
    fails_over_and_heals(&rig, kind, async { rig.twilio.set_mode(Mode::Ok) }).await;
}

#[tokio::test]
async fn a_refused_connection_fails_over_and_the_circuit_heals() {
    let rig = rig().await;
    rig.twilio.refuse().await;
    fails_over_and_heals(&rig, "PROVIDER_UNAVAILABLE", rig.twilio.restore()).await;
    // Nothing reached Twilio while it refused: the only send it saw is the probe.
    assert_eq!(rig.twilio.journal.to_path("/Messages.json").len(), 1);
}

#[tokio::test]
async fn a_500_fails_over_and_the_circuit_heals() {
    with_mode(Mode::Status500, "PROVIDER_UNAVAILABLE").await;
}

#[tokio::test]
async fn a_503_fails_over_and_the_circuit_heals() {
    with_mode(Mode::Status503, "PROVIDER_UNAVAILABLE").await;
}

#[tokio::test]
async fn a_429_with_retry_after_fails_over_and_the_circuit_heals() {
    with_mode(Mode::TooMany, "RATE_LIMITED").await;
}

#[tokio::test]
async fn refused_credentials_fail_over_and_the_circuit_heals() {
    with_mode(Mode::BadCredentials, "INVALID_CREDENTIALS").await;
}

/// No credit does not open the circuit: the provider is marked out of credit after the first
/// refusal, skipped, and its balance is read again soon, so a top-up brings it back.
#[tokio::test]
async fn no_credit_marks_the_provider_fails_over_and_a_top_up_is_noticed() {
    let rig = rig().await;
    rig.twilio.set_mode(Mode::NoCredit);
    let first = rig.send("no credit 0").await;
    let (message, events) = rig.settled(&first, "DELIVERED").await;
    assert_eq!(message["provider"], "smso");
    assert_eq!(
        events,
        [
            "QUEUED",
            "SENDING twilio",
            "RETRYING twilio INSUFFICIENT_CREDIT",
            "SENDING smso",
            "SENT smso",
            "DELIVERED smso"
        ]
    );
    rig.wait_health("CLOSED", true).await;
    let second = rig.send("no credit 1").await;
    let (_, events) = rig.settled(&second, "DELIVERED").await;
    assert_eq!(
        events,
        ["QUEUED", "SENDING smso", "SENT smso", "DELIVERED smso"]
    );

    // Topped up: the balance reads 12.34 again, noticed by the prompt re-check.
    rig.twilio.set_mode(Mode::Ok);
    rig.wait_health("CLOSED", false).await;
    let third = rig.send("no credit 2").await;
    let (_, events) = rig.settled(&third, "DELIVERED").await;
    assert_eq!(
        events,
        [
            "QUEUED",
            "SENDING twilio",
            "SENT twilio",
            "DELIVERED twilio"
        ]
    );
    rig.assert_each_taken_once(&[
        "no credit 0".into(),
        "no credit 1".into(),
        "no credit 2".into(),
    ]);
}
