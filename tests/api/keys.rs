//! Provider-secret keys: Fernet interoperability with Python's `cryptography.fernet` (fixed
//! vectors, both ways), and the start-up check of the configured keys against the stored
//! secrets (a wrong key is one clear line; fatal in prod mode, a warning in dev mode).

use crate::helpers::*;
use serde_json::json;
use smsgate::{config::Settings, secrets::Keyring, startup::Application};

// The vectors were made once, on 2026-11-24, with Python 3 and `cryptography` 50.0.2 in a
// throw-away venv (`python3 -m venv v && v/bin/pip install cryptography`):
//
//   from cryptography.fernet import Fernet
//   k = Fernet.generate_key()
//   t = Fernet(k).encrypt(b'{"apiKey":"py-made-secret-3f9a"}')
//
// and, the other way, a token made by smsgate (`Keyring::seal(&json!({"apiKey":
// "rs-made-secret-77aa"}))` under a `Keyring::generate_key()` key) was checked with
//
//   Fernet(RS_KEY).decrypt(RS_TOKEN)  ->  b'{"apiKey":"rs-made-secret-77aa"}'
//
// Fernet tokens carry their creation time; none of these checks uses a TTL, so they stay valid.
const PY_KEY: &str = "qxcsUiXf4ToqzvPOyihBxjpOlL8BuIox8xY-j4PkTkE=";
const PY_TOKEN: &str = "gAAAAABrBXNJ0Rex1glfFnRH575st6okPaiPx5eA6c8ogtJKfKwu3heJLWJQ77GZaAs7_6rgNROyZCJit7p_6sNJVbvS9b8ydR9zy-MuMSLQ4h-rUeWN5sxFlcp7p-XKzZaz8nmRZmvJ";
const RS_KEY: &str = "ziicPMigsgLnVcA9lgb76fUxOGaYnCKP2ItGfSuGFCk=";
const RS_TOKEN: &str = "gAAAAABrBXNcEzVDDVVSQqq6jTKIaox5W8BEBKq9dJWGECzMcC0UTZhHmkrwHcVbmfCE0nr9FX1rTZ4ca90Fd74Ksvdyzao9Yai4uHXoU10rgjngnM9uxqEnItiyXMCGjlGu1q--qCrI";
/// What Python printed for `Fernet(RS_KEY).decrypt(RS_TOKEN)`.
const RS_PLAINTEXT_AS_PYTHON_READ_IT: &str = r#"{"apiKey":"rs-made-secret-77aa"}"#;

#[test]
fn a_token_made_by_python_decrypts_in_smsgate() {
    let ring = Keyring::new([PY_KEY]).unwrap();
    assert_eq!(
        ring.open(PY_TOKEN).unwrap(),
        json!({ "apiKey": "py-made-secret-3f9a" })
    );
    // Among other keys too, as after a rotation.
    let rotated = Keyring::new([Keyring::generate_key().as_str(), PY_KEY]).unwrap();
    assert!(rotated.open(PY_TOKEN).is_ok());
    assert!(!rotated.is_current(PY_TOKEN));
}

#[test]
fn the_token_smsgate_made_for_python_still_opens_to_what_python_read() {
    let ring = Keyring::new([RS_KEY]).unwrap();
    let plain = ring.open(RS_TOKEN).unwrap();
    assert_eq!(plain.to_string(), RS_PLAINTEXT_AS_PYTHON_READ_IT);
    // And today's tokens have the same shape: version byte 0x80, url-safe base64.
    let fresh = ring.seal(&json!({ "apiKey": "x" }));
    assert!(fresh.starts_with("gAAAAA"), "{fresh}");
}

fn settings(dir: &std::path::Path, mode: &str, key: &str) -> Settings {
    let env = [
        ("SMSGATE_LISTEN", "127.0.0.1:0"),
        ("SMSGATE_INTERNAL_LISTEN", "127.0.0.1:0"),
        ("SMSGATE_ADMIN_TOKEN", ADMIN),
        ("SMSGATE_SERVICE_TOKEN", SERVICE),
        ("SMSGATE_MODE", mode),
        ("SMSGATE_ENCRYPTION_KEYS", key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("SMSGATE_DATA_DIR".to_owned(), dir.display().to_string())]);
    Settings::load_from(None, env).unwrap()
}

#[tokio::test]
async fn a_wrong_key_at_start_up_is_one_clear_line_fatal_in_prod_and_a_warning_in_dev() {
    let right = Keyring::generate_key();
    let app = spawn_app_in(
        tempfile::tempdir().unwrap(),
        &[("SMSGATE_ENCRYPTION_KEYS", &right)],
    )
    .await;
    let created = app
        .graphql(
            r#"mutation { createProvider(input: {name: "SMSO", slug: "smso", kind: SMSO, credentials: {apiKey: "sk-0123456789"}}) { id } }"#,
            json!({}),
        )
        .await;
    assert!(created.get("errors").is_none(), "{created}");
    let dir = app.stop().await;

    let wrong = Keyring::generate_key();
    let err = Application::build(settings(dir.path(), "prod", &wrong))
        .await
        .err()
        .expect("prod refuses to start with a wrong key");
    let line = format!("{err:#}");
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(
        line.contains("cannot decrypt the stored secrets of smso"),
        "{line}"
    );
    assert!(
        !line.contains(&wrong) && !line.contains(&right),
        "no key in the message"
    );

    let dev = Application::build(settings(dir.path(), "dev", &wrong))
        .await
        .unwrap();
    let warnings: Vec<&String> = dev
        .banner()
        .iter()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", dev.banner());
    assert!(warnings[0].contains("smso"));

    // The right key (behind a new one, as during a rotation) starts cleanly in prod.
    let rotating = format!("{},{right}", Keyring::generate_key());
    let prod = Application::build(settings(dir.path(), "prod", &rotating))
        .await
        .unwrap();
    assert!(
        prod.banner().iter().all(|l| !l.starts_with("warning:")),
        "{:?}",
        prod.banner()
    );
}

#[test]
fn a_missing_key_in_prod_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SMSGATE_MODE", "prod"),
        ("SMSGATE_ADMIN_TOKEN", ADMIN),
        ("SMSGATE_SERVICE_TOKEN", SERVICE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "SMSGATE_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    )]);
    let err = Settings::load_from(None, env).unwrap_err();
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("SMSGATE_ENCRYPTION_KEYS"), "{line}");
}
