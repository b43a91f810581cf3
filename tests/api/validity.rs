//! Validity set per message: bounds checked on GraphQL (`validity`) and REST
//! (`validity_seconds`), handed to providers whose API takes one (Twilio `ValidityPeriod`,
//! Vonage `ttl`), and a message that could not be sent in time is EXPIRED, never sent late.

use crate::{
    fakes::{
        spawn_with_providers,
        twilio::{self as fake_twilio, FakeTwilio, Mode},
        vonage::{self as fake_vonage, FakeVonage},
        Provider,
    },
    helpers::{error_code, spawn_app, SERVICE},
};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;

fn twilio(fake: &FakeTwilio) -> Provider {
    Provider {
        slug: "twilio",
        kind: ProviderKind::Twilio,
        base_url: fake.base_url(),
        sender: fake_twilio::FROM,
        credentials: json!({ "accountSid": fake_twilio::SID, "authToken": fake_twilio::TOKEN }),
        settings: json!({ "balance_recheck_ms": 100 }),
        priority: 0,
    }
}

#[tokio::test]
async fn a_validity_out_of_bounds_is_invalid_input_naming_the_field() {
    let app = spawn_app().await;
    for validity in [0, 29, 259_201] {
        let answer = app
            .graphql(
                "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }",
                json!({ "input": { "to": "+40722334455", "body": "x", "validity": validity } }),
            )
            .await;
        assert_eq!(error_code(&answer), "INVALID_INPUT", "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "validity");
    }
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "0755123456", "message": "x", "validity_seconds": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_INPUT", "{body}");
    assert_eq!(body["error"]["field"], "validity_seconds", "{body}");
    // In bounds, over REST: accepted.
    let response = app
        .client
        .post(app.internal_url("/internal/sms/send"))
        .bearer_auth(SERVICE)
        .json(&json!({ "phone_number": "0755123456", "message": "x", "validity_seconds": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn twilio_and_vonage_are_told_what_is_left_of_a_validity_set_per_message() {
    let tw = FakeTwilio::start().await;
    let (app, _) = spawn_with_providers(vec![twilio(&tw)], None).await;
    let with = app
        .send_sms(json!({ "to": "+40722334455", "body": "with", "validity": 600 }))
        .await;
    app.wait_for_status(with["id"].as_str().unwrap(), "SENT")
        .await;
    let without = app
        .send_sms(json!({ "to": "+40722334455", "body": "without" }))
        .await;
    app.wait_for_status(without["id"].as_str().unwrap(), "SENT")
        .await;
    let sends = tw.journal.to_path("/Messages.json");
    let validity = |r: &crate::fakes::Recorded| {
        r.form()
            .into_iter()
            .find(|(k, _)| k == "ValidityPeriod")
            .map(|(_, v)| v.parse::<u64>().unwrap())
    };
    let given = validity(&sends[0]).expect("ValidityPeriod sent");
    assert!((590..=600).contains(&given), "{given}");
    assert_eq!(
        validity(&sends[1]),
        None,
        "the type's default is Twilio's too"
    );

    let vonage = FakeVonage::start().await;
    let (app, _) = spawn_with_providers(
        vec![Provider {
            slug: "vonage",
            kind: ProviderKind::Vonage,
            base_url: vonage.base_url(),
            sender: fake_vonage::FROM,
            credentials: json!({ "apiKey": fake_vonage::KEY, "apiSecret": fake_vonage::SECRET }),
            settings: json!({}),
            priority: 0,
        }],
        None,
    )
    .await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "ttl", "type": "OTP", "validity": 120 }))
        .await;
    app.wait_for_status(sent["id"].as_str().unwrap(), "SENT")
        .await;
    let send = &vonage.journal.to_path("/sms/json")[0];
    let ttl: u64 = send
        .form()
        .into_iter()
        .find(|(k, _)| k == "ttl")
        .map(|(_, v)| v.parse().unwrap())
        .expect("ttl sent");
    assert!((110_000..=120_000).contains(&ttl), "{ttl}");
}

/// The only provider has no credit, so the message waits; at created + 30 s it is EXPIRED and
/// the provider never receives it, even once credit is back.
#[tokio::test]
async fn a_message_that_waits_past_its_validity_expires_and_is_never_sent_late() {
    let tw = FakeTwilio::start().await;
    tw.set_mode(Mode::NoCredit);
    let (app, _) = spawn_with_providers(vec![twilio(&tw)], None).await;
    tw.journal.wait_for("/Balance.json", 1).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "late", "validity": 30 }))
        .await;
    let id = sent["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    // Longer than `wait_for_status` waits: polled, with a deadline past the validity.
    let deadline = started + std::time::Duration::from_secs(45);
    while app.message(id).await["status"] != "EXPIRED" {
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(29),
        "expired after {:?}",
        started.elapsed()
    );
    tw.set_mode(Mode::Ok);
    let next = app
        .send_sms(json!({ "to": "+40722334455", "body": "on time" }))
        .await;
    app.wait_for_status(next["id"].as_str().unwrap(), "SENT")
        .await;
    assert_eq!(tw.taken_with_body("late"), 0, "never sent late");
    let message = app.message(id).await;
    assert_eq!(message["status"], "EXPIRED");
}
