//! What dev mode generates when it is not given: tokens, the encryption key (kept owner-only
//! in the data dir), the mock provider; and its warning when it listens beyond loopback.

use crate::{
    config::{Mode, Settings},
    secrets::{open_keyring, Keyring, SecretError, SecretString},
};
use chrono::Utc;
use rand::{distributions::Alphanumeric, Rng};
use smsgate_actors::domain::{ProviderConfig, ProviderId, ProviderKind};

/// The keyring of `settings` (see `secrets::open_keyring`), saying in the banner when dev mode
/// generated its key.
pub fn keyring(settings: &Settings, banner: &mut Vec<String>) -> anyhow::Result<Keyring> {
    let dev_dir = (settings.mode == Mode::Dev).then_some(settings.data_dir.as_path());
    let opened = open_keyring(&settings.encryption_keys, dev_dir).map_err(|err| match err {
        SecretError::BadKey { .. } => anyhow::Error::new(err).context("SMSGATE_ENCRYPTION_KEYS"),
        err => err.into(),
    })?;
    if let Some(path) = opened.generated {
        banner.push(format!(
            "dev mode: generated an encryption key for provider secrets in {} (set SMSGATE_ENCRYPTION_KEYS in prod)",
            path.display()
        ));
    }
    Ok(opened.keyring)
}

/// Dev mode generates tokens, a key and a mock provider and prints the tokens: fine on a
/// laptop, not on an address other machines reach. Said, not refused (a dev container may
/// need 0.0.0.0).
pub(super) fn dev_exposed(settings: &Settings) -> Option<String> {
    let exposed: Vec<String> = [settings.listen, settings.internal_listen]
        .iter()
        .filter(|addr| !addr.ip().is_loopback())
        .map(ToString::to_string)
        .collect();
    (settings.mode == Mode::Dev && !exposed.is_empty()).then(|| {
        format!(
            "dev mode on a non-loopback address ({}): other machines can reach it; use SMSGATE_MODE=prod outside a development machine",
            exposed.join(", ")
        )
    })
}

pub(super) fn token_or_generate(given: Option<&SecretString>, role: &str) -> (SecretString, bool) {
    match given {
        Some(token) => (token.clone(), false),
        None => {
            let random: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(40)
                .map(char::from)
                .collect();
            (SecretString::new(format!("sg_{role}_{random}")), true)
        }
    }
}

/// The mock provider dev mode configures when there is none: accepts at once, delivers at once.
pub(super) fn dev_mock() -> ProviderConfig {
    let now = Utc::now();
    ProviderConfig {
        id: ProviderId::generate(),
        name: "Mock (development)".into(),
        slug: "mock".into(),
        kind: ProviderKind::Mock,
        is_active: true,
        is_default: true,
        priority: 100,
        features: vec!["sms".into(), "delivery_reports".into()],
        sender_id: None,
        api_base_url: None,
        credentials: None,
        api_key_hint: None,
        settings: serde_json::json!({
            "latency_ms": 0,
            "delivery_delay_ms": 0,
            "price_per_segment_cents": 3.5
        }),
        created_at: now,
        updated_at: now,
        webhook_secret: None,
    }
}
