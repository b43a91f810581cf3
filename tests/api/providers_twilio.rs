//! Twilio end to end against a fake Twilio: the exact send, failover from a failing SMSO,
//! signed status callbacks (valid, forged, duplicate, out of order).

use crate::fakes::{
    self,
    smso::{self as fake_smso, FakeSmso, Mode},
    spawn_with_providers,
    twilio::{FakeTwilio, FROM, MESSAGE_SID, SID, TOKEN},
    Provider,
};
use serde_json::json;
use smsgate::providers::twilio::signature;
use smsgate_actors::domain::ProviderKind;

const PUBLIC: &str = "https://sms.example.com";

fn twilio(fake: &FakeTwilio, priority: i32) -> Provider {
    Provider {
        slug: "twilio",
        kind: ProviderKind::Twilio,
        base_url: fake.base_url(),
        sender: FROM,
        credentials: json!({ "accountSid": SID, "authToken": TOKEN }),
        settings: json!({}),
        priority,
    }
}

/// Posts a status callback for the fake's message, signed as Twilio would (or not).
async fn callback(
    app: &crate::helpers::TestApp,
    provider_id: &str,
    status: &str,
    sign_with: Option<&str>,
) -> u16 {
    callback_signed_over(app, provider_id, status, sign_with, PUBLIC).await
}

/// As `callback`, with the signature computed over `signed_base` and the path.
async fn callback_signed_over(
    app: &crate::helpers::TestApp,
    provider_id: &str,
    status: &str,
    sign_with: Option<&str>,
    signed_base: &str,
) -> u16 {
    let path = format!("/webhooks/twilio/{provider_id}");
    let params: Vec<(String, String)> = [
        ("MessageSid", MESSAGE_SID),
        ("SmsSid", MESSAGE_SID),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", SID),
        ("From", FROM),
        ("To", "+40722334455"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut request = app.client.post(app.url(&path)).form(&params);
    if let Some(token) = sign_with {
        request = request.header(
            "X-Twilio-Signature",
            signature(token, &format!("{signed_base}{path}"), &params),
        );
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_message_fails_over_from_an_smso_without_credit_to_twilio_and_is_delivered() {
    let smso = FakeSmso::start().await;
    smso.set_mode(Mode::NoCredit);
    let tw = FakeTwilio::start().await;
    let (app, ids) = spawn_with_providers(
        vec![
            Provider {
                slug: "smso",
                kind: ProviderKind::Smso,
                base_url: smso.base_url(),
                sender: fake_smso::SENDER,
                credentials: json!({ "apiKey": fake_smso::KEY }),
                settings: json!({}),
                priority: 0,
            },
            twilio(&tw, 1),
        ],
        Some(PUBLIC),
    )
    .await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();

    let sends = tw.journal.wait_for("/Messages.json", 1).await;
    assert_eq!(sends[0].method, "POST");
    assert_eq!(
        sends[0].path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    let form = sends[0].form();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let callback_url = format!("{PUBLIC}/webhooks/twilio/{}", ids[1]);
    assert_eq!(
        pairs,
        [
            ("To", "+40722334455"),
            ("Body", "Hello"),
            ("From", FROM),
            ("StatusCallback", callback_url.as_str())
        ]
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(
        sends[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    app.wait_for_status(id, "SENT").await;

    // A forged or unsigned callback changes nothing.
    assert_eq!(
        callback(&app, &ids[1], "delivered", Some("wrong-token")).await,
        403
    );
    assert_eq!(callback(&app, &ids[1], "delivered", None).await, 403);
    assert_eq!(app.message(id).await["status"], "SENT");

    assert_eq!(callback(&app, &ids[1], "delivered", Some(TOKEN)).await, 200);
    app.wait_for_status(id, "DELIVERED").await;
    // A repeated receipt, and a late `sent`, add nothing.
    assert_eq!(callback(&app, &ids[1], "delivered", Some(TOKEN)).await, 200);
    assert_eq!(callback(&app, &ids[1], "sent", Some(TOKEN)).await, 200);

    let stored = app.message(id).await;
    assert_eq!(stored["status"], "DELIVERED");
    assert_eq!(stored["provider"], "twilio");
    assert_eq!(stored["providerMessageId"], MESSAGE_SID);
    let events = fakes::events(&stored);
    let statuses: Vec<&str> = events.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "QUEUED",
            "SENDING",
            "RETRYING",
            "SENDING",
            "SENT",
            "DELIVERED"
        ],
        "{stored}"
    );
    assert_eq!(events[1].1.as_deref(), Some("smso"));
    assert_eq!(events[3].1.as_deref(), Some("twilio"));
    assert_eq!(smso.journal.to_path("/api/v1/send").len(), 1);
}

/// Twilio may sign the URL with the scheme's default port spelled out; its own validators
/// accept either form, and so do we. Another port is still a forgery.
#[tokio::test]
async fn a_callback_signed_over_the_url_with_its_default_port_is_accepted() {
    let tw = FakeTwilio::start().await;
    let (app, ids) = spawn_with_providers(vec![twilio(&tw, 0)], Some(PUBLIC)).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "Hello" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "SENT").await;

    let other_port = "https://sms.example.com:8443";
    assert_eq!(
        callback_signed_over(&app, &ids[0], "delivered", Some(TOKEN), other_port).await,
        403
    );
    assert_eq!(app.message(id).await["status"], "SENT");
    let default_port = "https://sms.example.com:443";
    assert_eq!(
        callback_signed_over(&app, &ids[0], "delivered", Some(TOKEN), default_port).await,
        200
    );
    app.wait_for_status(id, "DELIVERED").await;
}

#[tokio::test]
async fn twilio_balance_and_fetch_use_the_documented_paths() {
    let tw = FakeTwilio::start().await;
    let (_app, _) = spawn_with_providers(vec![twilio(&tw, 0)], None).await;
    let balance = tw.journal.wait_for("/Balance.json", 1).await;
    assert_eq!(balance[0].method, "GET");
    assert_eq!(
        balance[0].path,
        format!("/2010-04-01/Accounts/{SID}/Balance.json")
    );

    // Fetch, through the client directly: the status of a delivered message and its price.
    use smsgate::providers::twilio::Twilio;
    use smsgate_actors::ports::{DeliveryStatus, SmsProvider};
    let config = smsgate_actors::domain::ProviderConfig {
        id: smsgate_actors::domain::ProviderId::generate(),
        name: "t".into(),
        slug: "t".into(),
        kind: ProviderKind::Twilio,
        is_active: true,
        is_default: true,
        priority: 0,
        features: vec![],
        sender_id: Some(FROM.into()),
        api_base_url: Some(tw.base_url()),
        credentials: None,
        api_key_hint: None,
        settings: json!({}),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        webhook_secret: None,
    };
    let client = Twilio::new(
        &config,
        &json!({ "accountSid": SID, "authToken": TOKEN }),
        None,
        &std::sync::Arc::new(
            smsgate::providers::outbound::OutboundPolicy::new(&["127.0.0.1"], false).unwrap(),
        ),
    )
    .unwrap();
    let report = client.status(MESSAGE_SID).await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Delivered);
    let fetch = tw
        .journal
        .wait_for(&format!("/Messages/{MESSAGE_SID}.json"), 1)
        .await;
    assert_eq!(fetch[0].method, "GET");
    let balance = client.balance().await.unwrap();
    assert_eq!(balance.credit.map(|c| c.cents()), Some(1234.0));
}
