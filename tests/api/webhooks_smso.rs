//! SMSO's status webhook end to end: the `webhook_status` URL handed over with the send, the
//! form SMSO posts back (smso.md §4), and receipts that repeat, arrive late or name nothing.

use crate::fakes::{
    self,
    smso::{FakeSmso, KEY, SENDER, TOKEN},
    spawn_with_providers, Provider,
};
use serde_json::json;
use smsgate_actors::domain::ProviderKind;

const PUBLIC: &str = "https://sms.example.com";

/// The receipt as smso.md §4 composes it, for `status`.
fn receipt(status: &str) -> String {
    let delivered = if status == "delivered" {
        "&delivered_at=2024-05-01+12%3A30%3A15"
    } else {
        "&delivered_at="
    };
    format!(
        "uuid={TOKEN}&status={status}&sent_at=2024-05-01+12%3A30%3A09{delivered}\
         &receiver%5Bnumber%5D=%2B40722334455&receiver%5Bmcc%5D=226&receiver%5Bmnc%5D=10"
    )
}

async fn post(app: &crate::helpers::TestApp, provider_id: &str, body: String) -> u16 {
    app.client
        .post(app.url(&fakes::webhook_path("smso", provider_id)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn smso_receipts_by_webhook_deliver_once_and_late_or_repeated_ones_add_nothing() {
    let fake = FakeSmso::start().await;
    let provider = Provider {
        slug: "smso",
        kind: ProviderKind::Smso,
        base_url: fake.base_url(),
        sender: SENDER,
        credentials: json!({ "apiKey": KEY }),
        // Receipts by webhook only here: polling would deliver it on its own.
        settings: json!({ "status_poll": false }),
        priority: 0,
    };
    let (app, ids) = spawn_with_providers(vec![provider], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "x" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;
    let form = fake.journal.to_path("/api/v1/send")[0].form();
    let webhook = format!("{PUBLIC}{}", fakes::webhook_path("smso", &ids[0]));
    assert!(
        form.iter()
            .any(|(k, v)| k == "webhook_status" && *v == webhook),
        "{form:?}"
    );

    // Not a receipt, or for a provider that does not exist: refused, nothing changes.
    assert_eq!(post(&app, &ids[0], "hello=world".into()).await, 400);
    assert_eq!(post(&app, "prv_nope", receipt("delivered")).await, 404);
    assert_eq!(app.message(id).await["status"], "SENT");

    assert_eq!(post(&app, &ids[0], receipt("delivered")).await, 200);
    app.wait_for_status(id, "DELIVERED").await;
    assert_eq!(post(&app, &ids[0], receipt("delivered")).await, 200);
    assert_eq!(post(&app, &ids[0], receipt("sent")).await, 200);
    assert_eq!(post(&app, &ids[0], receipt("undelivered")).await, 200);

    // A marker through the same pipeline: once it is SENT, the receipts above were handled.
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
