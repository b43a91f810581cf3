//! Receipts as hostile callers may send them: a receipt applies only to a message the named
//! provider sent, whatever ids it carries.

use crate::fakes::{
    self,
    smso::{FakeSmso, TOKEN},
    spawn_with_providers,
    vonage::{self as fake_vonage, FakeVonage},
    Provider,
};
use serde_json::json;
use smsgate_actors::domain::ProviderKind;

const PUBLIC: &str = "https://sms.example.com";

fn smso(fake: &FakeSmso) -> Provider {
    fake.provider(json!({ "status_poll": false }))
}

fn vonage(fake: &FakeVonage) -> Provider {
    Provider {
        slug: "vonage",
        kind: ProviderKind::Vonage,
        base_url: fake.base_url(),
        sender: fake_vonage::FROM,
        credentials: json!({ "apiKey": fake_vonage::KEY, "apiSecret": fake_vonage::SECRET }),
        settings: json!({}),
        priority: 1,
    }
}

#[tokio::test]
async fn a_receipt_at_another_providers_webhook_changes_nothing() {
    let (smso_fake, vonage_fake) = (FakeSmso::start().await, FakeVonage::start().await);
    let (app, ids) =
        spawn_with_providers(vec![smso(&smso_fake), vonage(&vonage_fake)], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    assert_eq!(app.message(id).await["provider"], "smso");

    // Vonage's webhook (unsigned here) names our id and SMSO's token: neither is Vonage's.
    let forged: Vec<(&str, &str)> = vec![
        ("messageId", TOKEN),
        ("status", "delivered"),
        ("err-code", "0"),
        ("client-ref", id),
    ];
    let answer = app
        .client
        .post(app.url(&fakes::webhook_path("vonage", &ids[1])))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // SMSO's own receipt, after it: it is the one that finishes the message.
    let answer = app
        .client
        .post(app.url(&fakes::webhook_path("smso", &ids[0])))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "uuid={TOKEN}&status=undelivered&sent_at=2024-05-01+12%3A30%3A09"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    app.wait_for_status(id, "UNDELIVERED").await;
    let stored = app.message(id).await;
    let statuses: Vec<String> = fakes::events(&stored).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["QUEUED", "SENDING", "SENT", "UNDELIVERED"],
        "{stored}"
    );
}
