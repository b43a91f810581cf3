//! Outbound calls under the policy (issue 11): provider URLs at non-public addresses refused at
//! creation (literals) and at connect time (names), no redirects followed, answers bounded in
//! what they leave in `message.error`, credentials asked again when a provider is pointed
//! elsewhere, settings the adapter would refuse refused with the field named on GraphQL and
//! REST, and JSON arrays refused where the admin REST routes take an object.

use crate::{
    fakes::{
        generic::{FakeGeneric, KEY as GENERIC_KEY},
        serve,
        smso::{self as fake_smso, FakeSmso},
        spawn_with_providers, Provider,
    },
    helpers::{error_code, spawn_app, TestApp, ADMIN},
};
use axum::{http::StatusCode, response::IntoResponse, routing::any, Router};
use serde_json::{json, Value};
use smsgate_actors::domain::ProviderKind;

const CREATE: &str = "mutation($input: ProviderInput!) { createProvider(input: $input) { id } }";
const UPDATE: &str =
    "mutation($id: ID!, $input: ProviderUpdateInput!) { updateProvider(id: $id, input: $input) { id apiKeyHint } }";

fn field(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field in {answer}"))
}

async fn put(app: &TestApp, id: &str, body: String) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/admin/sms/providers/{id}")))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn message_error(app: &TestApp, id: &str) -> (String, String) {
    let answer = app
        .graphql(
            "query($id: ID!) { message(id: $id) { status error { kind message } } }",
            json!({ "id": id }),
        )
        .await;
    let m = &answer["data"]["message"];
    (
        m["status"].as_str().unwrap_or_default().to_owned(),
        m["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn smso_at(base_url: String) -> Provider {
    Provider {
        slug: "smso",
        kind: ProviderKind::Smso,
        base_url,
        sender: fake_smso::SENDER,
        credentials: json!({ "apiKey": fake_smso::KEY }),
        settings: json!({ "status_poll": false }),
        priority: 0,
    }
}

#[tokio::test]
async fn provider_urls_at_metadata_or_private_addresses_are_refused_when_set() {
    let app = spawn_app().await;
    for (input, expected) in [
        (
            json!({"name": "Meta", "slug": "meta", "kind": "SMSO", "apiBaseUrl": "http://169.254.169.254/latest/",
                   "credentials": {"apiKey": "k-0123456789"}}),
            "apiBaseUrl",
        ),
        (
            json!({"name": "Lan", "slug": "lan", "kind": "TWILIO", "apiBaseUrl": "https://10.0.0.7:8443",
                   "credentials": {"accountSid": "AC1", "authToken": "t-0123456789"}}),
            "apiBaseUrl",
        ),
        (
            json!({"name": "Gen", "slug": "gen", "kind": "HTTP",
                   "settings": {"url": "http://[::ffff:169.254.169.254]/computeMetadata/v1/"}}),
            "settings.url",
        ),
    ] {
        let answer = app.graphql(CREATE, json!({ "input": input })).await;
        assert_eq!(error_code(&answer), "INVALID_INPUT", "{answer}");
        assert_eq!(field(&answer), expected, "{answer}");
    }
    let providers = app.graphql("{ providers { slug } }", json!({})).await;
    assert_eq!(
        providers["data"]["providers"],
        json!([{ "slug": "mock" }]),
        "nothing was stored: {providers}"
    );
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    // `localhost` resolves to loopback and is not listed (the tests list 127.0.0.1 only).
    let fake = FakeSmso::start().await;
    let url = format!("http://localhost:{}/api/v1/", fake.addr.port());
    let (app, _) = spawn_with_providers(vec![smso_at(url)], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "to a rebinding name" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    let (_, error) = message_error(&app, id).await;
    assert!(error.contains("outbound policy"), "{error}");
    assert!(error.contains("localhost"), "{error}");
    assert!(fake.journal.all().is_empty(), "{:?}", fake.journal.all());
}

#[tokio::test]
async fn a_redirect_from_a_provider_is_not_followed() {
    let target = FakeSmso::start().await;
    let location = format!("{}send", target.base_url());
    let redirecting = serve(Router::new().fallback(any(move || {
        let location = location.clone();
        async move { (StatusCode::FOUND, [("location", location)]).into_response() }
    })))
    .await;
    let (app, _) =
        spawn_with_providers(vec![smso_at(format!("http://{redirecting}/api/v1/"))], None).await;
    let sent = app
        .send_sms(json!({ "to": "+40722334455", "body": "redirected?" }))
        .await;
    let id = sent["id"].as_str().unwrap();
    app.wait_for_status(id, "FAILED").await;
    let (_, error) = message_error(&app, id).await;
    assert!(error.contains("302"), "{error}");
    assert!(
        target.journal.all().is_empty(),
        "the redirect was followed: {:?}",
        target.journal.all()
    );
}

#[tokio::test]
async fn text_from_an_answer_in_message_error_is_bounded_and_never_an_object() {
    // A "provider" whose error field holds a huge text, or an object (what a GET of some other
    // URL might return): neither may end up in message.error as it is.
    let huge = "A".repeat(300_000);
    let answer = json!({ "error": huge.clone() }).to_string();
    let big = serve(Router::new().fallback(any(move || {
        let answer = answer.clone();
        async move { (StatusCode::BAD_REQUEST, answer).into_response() }
    })))
    .await;
    let nested = serve(Router::new().fallback(any(|| async {
        (
            StatusCode::BAD_REQUEST,
            json!({ "error": { "internal": "TOP-SECRET-DOCUMENT" } }).to_string(),
        )
            .into_response()
    })))
    .await;
    let generic = |slug: &'static str, addr: std::net::SocketAddr| Provider {
        slug,
        kind: ProviderKind::Http,
        base_url: format!("http://{addr}/v1/sms"),
        sender: "ACME",
        credentials: json!({ "apiKey": GENERIC_KEY }),
        settings: json!({ "error_pointer": "/error", "message_id_pointer": "/id" }),
        priority: 0,
    };
    let (app, _) =
        spawn_with_providers(vec![generic("big", big), generic("nested", nested)], None).await;
    for (slug, secret) in [("big", huge.as_str()), ("nested", "TOP-SECRET-DOCUMENT")] {
        let sent = app
            .send_sms(json!({ "to": "+40722334455", "body": "hi", "provider": slug }))
            .await;
        let id = sent["id"].as_str().unwrap();
        app.wait_for_status(id, "FAILED").await;
        let (_, error) = message_error(&app, id).await;
        assert!(error.contains("400"), "{slug}: {error}");
        assert!(
            error.len() < 1_000,
            "{slug}: {} bytes of error",
            error.len()
        );
        assert!(!error.contains(&secret[..19]), "{slug}: {error}");
    }
}

#[tokio::test]
async fn pointing_a_provider_elsewhere_needs_its_credentials_again() {
    let fake = FakeSmso::start().await;
    let other = FakeGeneric::start().await;
    let app = spawn_app().await;
    let created = app
        .graphql(
            CREATE,
            json!({ "input": { "name": "SMSO", "slug": "smso", "kind": "SMSO", "apiBaseUrl": fake.base_url(),
                               "credentials": { "apiKey": fake_smso::KEY } } }),
        )
        .await;
    let id = created["data"]["createProvider"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let elsewhere = format!("http://{}/api/v1/", other.addr);
    let answer = app
        .graphql(
            UPDATE,
            json!({ "id": id, "input": { "apiBaseUrl": elsewhere } }),
        )
        .await;
    assert_eq!(error_code(&answer), "INVALID_INPUT", "{answer}");
    assert_eq!(field(&answer), "credentials", "{answer}");
    let (status, body) = put(&app, &id, json!({ "api_base_url": elsewhere }).to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "credentials", "{body}");
    // Given again, the change is made; other changes never needed them.
    let answer = app
        .graphql(
            UPDATE,
            json!({ "id": id, "input": { "apiBaseUrl": elsewhere, "credentials": { "apiKey": "new-key-000011112222" } } }),
        )
        .await;
    assert_eq!(
        answer["data"]["updateProvider"]["apiKeyHint"], "****2222",
        "{answer}"
    );
    let answer = app
        .graphql(UPDATE, json!({ "id": id, "input": { "priority": 4 } }))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn settings_the_adapter_would_refuse_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            "SMSO",
            json!({"request_timeout_ms": 0}),
            "settings.request_timeout_ms",
        ),
        (
            "SMSO",
            json!({"credit_unit": "dollars"}),
            "settings.credit_unit",
        ),
        (
            "VONAGE",
            json!({"signature_method": "md5hash"}),
            "settings.signature_method",
        ),
        (
            "TWILIO",
            json!({"requests_per_second": -2}),
            "settings.requests_per_second",
        ),
        (
            "MOCK",
            json!({"transient_failure_rate": 3}),
            "settings.transient_failure_rate",
        ),
        (
            "MOCK",
            json!({"max_concurrency": "many"}),
            "settings.max_concurrency",
        ),
    ];
    let credentials = |kind: &str| match kind {
        "SMSO" => json!({"apiKey": "k-0123456789"}),
        "VONAGE" => json!({"apiKey": "k", "apiSecret": "s-0123456789"}),
        "TWILIO" => json!({"accountSid": "AC1", "authToken": "t-0123456789"}),
        _ => Value::Null,
    };
    for (i, (kind, settings, expected)) in cases.iter().enumerate() {
        let answer = app
            .graphql(
                CREATE,
                json!({ "input": { "name": "P", "slug": format!("p{i}"), "kind": kind,
                                   "credentials": credentials(kind), "settings": settings } }),
            )
            .await;
        assert_eq!(
            error_code(&answer),
            "INVALID_INPUT",
            "{kind} {settings}: {answer}"
        );
        assert_eq!(field(&answer), *expected, "{answer}");
    }
    // The same over REST, on the dev mock, and over updateProvider.
    for (_, settings, expected) in cases.iter().filter(|(kind, ..)| *kind == "MOCK") {
        let (status, body) = put(&app, "mock", json!({ "settings": settings }).to_string()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "INVALID_INPUT", "{body}");
        assert_eq!(body["error"]["field"], *expected, "{body}");
        let answer = app
            .graphql(
                UPDATE,
                json!({ "id": "mock", "input": { "settings": settings } }),
            )
            .await;
        assert_eq!(field(&answer), *expected, "{answer}");
    }
    let providers = app.graphql("{ providers { slug } }", json!({})).await;
    assert_eq!(providers["data"]["providers"], json!([{ "slug": "mock" }]));
}

#[tokio::test]
async fn a_json_array_is_not_read_as_a_provider_change() {
    let app = spawn_app().await;
    let (status, body) = put(&app, "mock", r#"["x"]"#.to_owned()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_INPUT", "{body}");
    let shown = app.graphql("{ providers { slug name } }", json!({})).await;
    assert_ne!(shown["data"]["providers"][0]["name"], "x", "{shown}");
}
