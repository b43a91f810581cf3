//! Vonage end to end against a fake Vonage SMS API: the exact send (`type=unicode`, digits
//! without `+`, the callback URL), the balance, errors inside HTTP 200, and signed delivery
//! receipts (valid, forged, stale, duplicate, out of order, ahead of the send's answer).

use crate::fakes::{
    self, spawn_with_providers,
    vonage::{self as fake, FakeVonage, Mode, FROM, KEY, SECRET, SIGNATURE_SECRET},
    Provider,
};
use serde_json::json;
use smsgate_actors::domain::ProviderKind;

const PUBLIC: &str = "https://sms.example.com";

fn vonage(fake: &FakeVonage, signed: bool) -> Provider {
    let mut credentials = json!({ "apiKey": KEY, "apiSecret": SECRET });
    if signed {
        credentials["signatureSecret"] = json!(SIGNATURE_SECRET);
    }
    Provider {
        slug: "vonage",
        kind: ProviderKind::Vonage,
        base_url: fake.base_url(),
        sender: FROM,
        credentials,
        settings: json!({}),
        priority: 0,
    }
}

/// Posts a DLR form to smsgate's Vonage webhook, as Vonage's "POST form" setting does.
async fn push(
    app: &crate::helpers::TestApp,
    provider_id: &str,
    params: &[(String, String)],
) -> u16 {
    let url = app.url(&fakes::webhook_path("vonage", provider_id));
    app.client
        .post(url)
        .form(params)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn basic() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    )
}

#[tokio::test]
async fn vonage_sends_unicode_as_the_documented_form_and_reads_the_balance() {
    let fake = FakeVonage::start().await;
    let (app, ids) = spawn_with_providers(vec![vonage(&fake, false)], Some(PUBLIC)).await;

    let balance = fake.journal.wait_for("/account/get-balance", 1).await;
    assert_eq!(balance[0].method, "GET");
    assert_eq!(balance[0].header("authorization"), Some(basic().as_str()));
    assert_eq!(
        balance[0].query, None,
        "the key travels in the header, not the URL"
    );

    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Codul tău: 123456" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    assert_eq!(sent["encoding"], "UCS2");
    let sends = fake.journal.wait_for("/sms/json", 1).await;
    assert_eq!(sends[0].method, "POST");
    assert_eq!(sends[0].header("authorization"), Some(basic().as_str()));
    assert_eq!(
        sends[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = sends[0].form();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback = format!("{PUBLIC}{}", fakes::webhook_path("vonage", &ids[0]));
    assert_eq!(
        pairs,
        [
            ("from", FROM),
            ("to", "40722334455"),
            ("text", "Codul tău: 123456"),
            ("client-ref", id),
            ("type", "unicode"),
            ("callback", callback.as_str()),
        ]
    );
    app.wait_for_status(id, "SENT").await;
    let stored = app.message(id).await;
    assert_eq!(stored["providerMessageId"], fake::part_id(0));
    // One part at 0.0412 EUR: 4.12 eurocents.
    assert!(
        (stored["cost"].as_f64().unwrap() - 4.12).abs() < 1e-9,
        "{stored}"
    );
    // The SMS API has no status endpoint: nothing else was asked.
    assert_eq!(fake.journal.all().len(), 2, "{:?}", fake.journal.all());
}

#[tokio::test]
async fn a_signed_receipt_is_checked_and_duplicates_and_late_ones_add_nothing() {
    let fake = FakeVonage::start().await;
    let (app, ids) = spawn_with_providers(vec![vonage(&fake, true)], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;

    // Forged (wrong secret), unsigned, tampered and stale receipts: 403, nothing changes.
    let forged = fake::dlr(0, "delivered", None, Some("not-the-secret"), None);
    assert_eq!(push(&app, &ids[0], &forged).await, 403);
    assert_eq!(
        push(&app, &ids[0], &fake::dlr(0, "delivered", None, None, None)).await,
        403
    );
    let mut tampered = fake::dlr(0, "failed", None, Some(SIGNATURE_SECRET), None);
    for (k, v) in &mut tampered {
        if k == "status" {
            *v = "delivered".into();
        }
    }
    assert_eq!(push(&app, &ids[0], &tampered).await, 403);
    let stale_at = chrono::Utc::now().timestamp() - 3_600;
    let stale = fake::dlr(0, "delivered", None, Some(SIGNATURE_SECRET), Some(stale_at));
    assert_eq!(push(&app, &ids[0], &stale).await, 403);
    assert_eq!(app.message(id).await["status"], "SENT");

    let valid = fake::dlr(0, "delivered", None, Some(SIGNATURE_SECRET), None);
    assert_eq!(push(&app, &ids[0], &valid).await, 200);
    app.wait_for_status(id, "DELIVERED").await;
    // The same receipt again, then a late `accepted` and a late `failed`: no new event.
    assert_eq!(push(&app, &ids[0], &valid).await, 200);
    for late in ["accepted", "failed"] {
        let params = fake::dlr(0, late, None, Some(SIGNATURE_SECRET), None);
        assert_eq!(push(&app, &ids[0], &params).await, 200);
    }
    // A marker message through the same pipeline proves the receipts above were processed.
    let marker = app
        .send_sms(json!({ "to": "+40722334466", "body": "marker" }))
        .await;
    app.wait_for_status(marker["id"].as_str().unwrap(), "SENT")
        .await;
    let stored = app.message(id).await;
    let statuses: Vec<String> = fakes::events(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["QUEUED", "SENDING", "SENT", "DELIVERED"],
        "{stored}"
    );
}

#[tokio::test]
async fn a_delivered_receipt_that_overtakes_the_send_answer_is_kept() {
    let fake = FakeVonage::start().await;
    fake.hold_answers(true);
    let (app, ids) = spawn_with_providers(vec![vonage(&fake, false)], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    // Vonage has the message (the request arrived) but has not answered yet.
    fake.journal.wait_for("/sms/json", 1).await;
    // The receipt carries only Vonage's id (no client-ref): the Router must hold it.
    let receipt = fake::dlr(0, "delivered", None, None, None);
    assert_eq!(push(&app, &ids[0], &receipt).await, 200);
    assert_eq!(app.message(id).await["status"], "SENDING");
    fake.hold_answers(false);
    app.wait_for_status(id, "DELIVERED").await;
    let stored = app.message(id).await;
    let statuses: Vec<String> = fakes::events(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["QUEUED", "SENDING", "SENT", "DELIVERED"],
        "{stored}"
    );
}

#[tokio::test]
async fn errors_inside_a_200_are_classified_by_their_status_code() {
    let fake = FakeVonage::start().await;
    let mut provider = vonage(&fake, false);
    // Many failures in a row here: the circuit must stay closed for the test to go on.
    provider.settings = json!({ "request_timeout_ms": 500, "breaker_consecutive_failures": 100, "breaker_window": 1000 });
    let (app, _) = spawn_with_providers(vec![provider], None).await;
    let kind_of = |id: String| {
        let app = &app;
        async move {
            let answer = app
                .graphql(
                    "query($id: ID!) { message(id: $id) { attempts error { kind } } }",
                    json!({ "id": id }),
                )
                .await;
            answer["data"]["message"].clone()
        }
    };
    // `3`: invalid number, permanent, one attempt.
    let bad = app
        .send_sms(json!({ "to": "+40722000000", "body": "x" }))
        .await;
    let bad = bad["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&bad, "FAILED").await;
    let m = kind_of(bad).await;
    assert_eq!(
        (m["attempts"].clone(), m["error"]["kind"].clone()),
        (json!(1), json!("INVALID_RECIPIENT")),
        "{m}"
    );

    // A garbled answer or none in time: the message may be out, so it fails and is not resent.
    for mode in [Mode::Malformed, Mode::Stall] {
        fake.set_mode(mode);
        let before = fake.journal.to_path("/sms/json").len();
        let m = app
            .send_sms(json!({ "to": "+40722334455", "body": "x" }))
            .await;
        let m = m["id"].as_str().unwrap().to_owned();
        app.wait_for_status(&m, "FAILED").await;
        let m = kind_of(m).await;
        assert_eq!(m["error"]["kind"], "INTERRUPTED", "{mode:?} {m}");
        assert_eq!(
            fake.journal.to_path("/sms/json").len(),
            before + 1,
            "{mode:?}"
        );
    }

    // `1`: throttled; `9`: no balance (last: it takes the only provider out of rotation). Both
    // leave the message waiting for a retry.
    for (mode, kind) in [
        (Mode::Throttled, "RATE_LIMITED"),
        (Mode::Internal, "PROVIDER_UNAVAILABLE"),
        (Mode::Status500, "PROVIDER_UNAVAILABLE"),
        (Mode::NoCredit, "INSUFFICIENT_CREDIT"),
    ] {
        fake.set_mode(mode);
        let m = app
            .send_sms(json!({ "to": "+40722334455", "body": "x" }))
            .await;
        let m = m["id"].as_str().unwrap().to_owned();
        app.wait_for_status(&m, "RETRYING").await;
        assert_eq!(kind_of(m).await["error"]["kind"], kind);
    }
}

#[tokio::test]
async fn a_long_text_is_billed_per_part_and_receipts_come_by_get_or_json() {
    let fake = FakeVonage::start().await;
    let (app, ids) = spawn_with_providers(vec![vonage(&fake, false)], Some(PUBLIC)).await;
    // 100 UCS-2 characters: two parts of at most 67.
    let body = "ă".repeat(100);
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": body }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    let stored = app.message(id).await;
    assert_eq!(stored["segments"], 2, "{stored}");
    assert!(
        (stored["cost"].as_f64().unwrap() - 8.24).abs() < 1e-9,
        "{stored}"
    );
    assert_eq!(stored["providerMessageId"], fake::part_id(0));

    // The second part's receipt, as a GET query string (one of Vonage's account settings),
    // found by the `client-ref` it echoes even though its id is not the one stored.
    let query = fake::dlr(1, "delivered", Some(id), None, None);
    let url = app.url(&fakes::webhook_path("vonage", &ids[0]));
    let status = app
        .client
        .get(&url)
        .query(&query)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    app.wait_for_status(id, "DELIVERED").await;

    // The first part's receipt as JSON: the message is already delivered, no new event.
    let params: serde_json::Map<String, serde_json::Value> =
        fake::dlr(0, "delivered", None, None, None)
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
    let status = app
        .client
        .post(&url)
        .json(&params)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let marker = app
        .send_sms(json!({ "to": "+40722334466", "body": "m" }))
        .await;
    app.wait_for_status(marker["id"].as_str().unwrap(), "SENT")
        .await;
    let stored = app.message(id).await;
    let statuses: Vec<String> = fakes::events(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["QUEUED", "SENDING", "SENT", "DELIVERED"],
        "{stored}"
    );
}
