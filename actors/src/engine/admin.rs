//! Provider administration through the engine: create, update, activate, delete and test-send.
//! Each change is validated, written to the store (credentials sealed first, so plaintext never
//! reaches it) and then made live by the supervisor before the call returns.

use super::{valid_sender, Engine, SendSms, CALL_TIMEOUT_MS};
use crate::{
    domain::{secret_hint, Message, MessageType, ProviderConfig, ProviderId, ProviderKind},
    error::EngineError,
    provider::ProviderHealth,
    router::ProviderView,
    supervisor::SupervisorMsg,
    updates::UpdateFilter,
};
use chrono::Utc;
use futures::StreamExt;
use ractor::call_t;
use serde_json::Value;
use std::{fmt, time::Duration};

const MAX_NAME_LEN: usize = 100;
const MAX_SLUG_LEN: usize = 32;
const MAX_FEATURE_LEN: usize = 64;

/// A provider to create, as an admin described it. `credentials` is plain JSON here and is
/// sealed before anything is stored; `Debug` never shows it.
#[derive(Clone, Default)]
pub struct NewProvider {
    pub name: String,
    pub slug: String,
    pub kind: Option<ProviderKind>,
    pub api_base_url: Option<String>,
    pub sender_id: Option<String>,
    pub priority: i32,
    pub is_active: bool,
    pub features: Vec<String>,
    pub credentials: Option<Value>,
    pub settings: Option<Value>,
}

/// A partial change: `None` leaves a field as it is. For the optional text fields,
/// `Some(None)` clears them. The slug cannot change: messages, statistics and webhooks name the
/// provider by it.
#[derive(Clone, Default)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub kind: Option<ProviderKind>,
    pub api_base_url: Option<Option<String>>,
    pub sender_id: Option<Option<String>>,
    pub priority: Option<i32>,
    pub is_active: Option<bool>,
    pub features: Option<Vec<String>>,
    /// Replaces the stored credentials as a whole.
    pub credentials: Option<Value>,
    pub settings: Option<Value>,
}

impl fmt::Debug for NewProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProvider")
            .field("slug", &self.slug)
            .field("kind", &self.kind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ProviderPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderPatch")
            .field("kind", &self.kind)
            .field("is_active", &self.is_active)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// One key of a kind's credentials object.
struct CredentialKey {
    key: &'static str,
    /// The field an error names, e.g. `credentials.apiKey`.
    path: &'static str,
    required: bool,
    /// The secret whose last characters make the hint.
    hinted: bool,
}

const fn key(key: &'static str, path: &'static str, required: bool, hinted: bool) -> CredentialKey {
    CredentialKey {
        key,
        path,
        required,
        hinted,
    }
}

/// The credentials each kind takes; `None` for kinds whose shape is free (HTTP) or empty (MOCK).
fn credential_keys(kind: ProviderKind) -> Option<&'static [CredentialKey]> {
    const SMSO: &[CredentialKey] = &[key("apiKey", "credentials.apiKey", true, true)];
    const TWILIO: &[CredentialKey] = &[
        key("accountSid", "credentials.accountSid", true, false),
        key("authToken", "credentials.authToken", true, true),
    ];
    const VONAGE: &[CredentialKey] = &[
        key("apiKey", "credentials.apiKey", true, false),
        key("apiSecret", "credentials.apiSecret", true, true),
        key(
            "signatureSecret",
            "credentials.signatureSecret",
            false,
            false,
        ),
    ];
    match kind {
        ProviderKind::Smso => Some(SMSO),
        ProviderKind::Twilio => Some(TWILIO),
        ProviderKind::Vonage => Some(VONAGE),
        ProviderKind::Http | ProviderKind::Mock => None,
    }
}

fn shape(keys: &[CredentialKey]) -> String {
    let names: Vec<String> = keys
        .iter()
        .map(|k| {
            if k.required {
                k.key.to_owned()
            } else {
                format!("{}?", k.key)
            }
        })
        .collect();
    format!("{{{}}}", names.join(", "))
}

/// Checks credentials against the kind's shape and returns the secret to hint, if any. Errors
/// name keys, never values.
fn check_credentials(
    kind: ProviderKind,
    credentials: Option<&Value>,
) -> Result<Option<String>, EngineError> {
    let given = credentials.filter(|c| !c.is_null());
    let Some(keys) = credential_keys(kind) else {
        return match (kind, given) {
            (_, None) => Ok(None),
            (ProviderKind::Mock, Some(_)) => Err(EngineError::invalid(
                "credentials",
                "MOCK providers take no credentials",
            )),
            (_, Some(Value::Object(map))) if map.values().all(Value::is_string) => Ok(None),
            (_, Some(_)) => Err(EngineError::invalid(
                "credentials",
                "must be an object of strings",
            )),
        };
    };
    let Some(Value::Object(map)) = given else {
        return Err(EngineError::invalid(
            "credentials",
            format!("{} providers need {}", kind.as_str(), shape(keys)),
        ));
    };
    // The unknown key is not named: a secret pasted into the wrong place would be echoed.
    if map.keys().any(|k| !keys.iter().any(|s| s.key == *k)) {
        return Err(EngineError::invalid(
            "credentials",
            format!(
                "has a key it does not take; {} providers take {}",
                kind.as_str(),
                shape(keys)
            ),
        ));
    }
    let mut hint = None;
    for spec in keys {
        match map.get(spec.key) {
            None if !spec.required => {}
            Some(Value::String(s)) if !s.trim().is_empty() => {
                if spec.hinted {
                    hint = Some(secret_hint(s));
                }
            }
            None | Some(_) => {
                return Err(EngineError::invalid(
                    spec.path,
                    "must be a non-empty string",
                ))
            }
        }
    }
    Ok(hint)
}

fn valid_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(EngineError::invalid(
            "name",
            format!("1 to {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Lower-case letters, digits and hyphens, starting with a letter or digit: it appears in
/// webhook URLs and metrics labels.
fn valid_slug(slug: &str) -> Result<String, EngineError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && slug
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        return Err(EngineError::invalid(
            "slug",
            format!("1 to {MAX_SLUG_LEN} lower-case letters, digits or hyphens, starting with a letter or digit"),
        ));
    }
    Ok(slug.to_owned())
}

fn valid_url(url: Option<&str>) -> Result<Option<String>, EngineError> {
    match url.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u)
            if (u.starts_with("https://") || u.starts_with("http://"))
                && !u.contains(char::is_whitespace) =>
        {
            Ok(Some(u.to_owned()))
        }
        Some(_) => Err(EngineError::invalid(
            "apiBaseUrl",
            "must be an http:// or https:// URL",
        )),
    }
}

fn valid_features(features: Vec<String>) -> Result<Vec<String>, EngineError> {
    features
        .into_iter()
        .map(|f| {
            let f = f.trim().to_owned();
            if f.is_empty() || f.len() > MAX_FEATURE_LEN {
                Err(EngineError::invalid(
                    "features",
                    format!("each feature is 1 to {MAX_FEATURE_LEN} characters"),
                ))
            } else {
                Ok(f)
            }
        })
        .collect()
}

fn valid_settings(settings: Option<Value>) -> Result<Value, EngineError> {
    match settings {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(EngineError::invalid("settings", "must be a JSON object")),
    }
}

impl Engine {
    /// Seals credentials checked against `kind`: the token to store and its hint.
    fn seal(
        &self,
        kind: ProviderKind,
        credentials: Option<&Value>,
    ) -> Result<(Option<String>, Option<String>), EngineError> {
        let hint = check_credentials(kind, credentials)?;
        match credentials.filter(|c| !c.is_null()) {
            None => Ok((None, None)),
            Some(plain) => {
                let sealed = self
                    .inner
                    .sealer
                    .seal(plain)
                    .map_err(|e| EngineError::Internal(Box::new(e)))?;
                Ok((Some(sealed), hint))
            }
        }
    }

    async fn stored_provider(&self, id: &str) -> Result<ProviderConfig, EngineError> {
        let parsed = ProviderId::parse(id).ok_or_else(|| EngineError::not_found("provider", id))?;
        self.inner
            .store
            .provider(&parsed)
            .await?
            .ok_or_else(|| EngineError::not_found("provider", id))
    }

    /// Has the supervisor start, restart or stop the provider's actor to match the store, and
    /// waits until the Router knows: after this, requests see the change.
    async fn reconfigure(&self, id: &ProviderId) -> Result<(), EngineError> {
        let id = id.clone();
        call_t!(
            self.inner.supervisor,
            |reply| SupervisorMsg::Reconfigure(id, reply),
            CALL_TIMEOUT_MS
        )
        .map_err(|_| EngineError::stopped("supervisor"))?;
        // The supervisor told the Router before answering; a round trip to the Router is
        // therefore answered after it took the change in, and the directory is current.
        self.providers().await.map(|_| ())
    }

    /// The stored configuration with the live health, when its actor runs.
    fn view(&self, config: ProviderConfig) -> ProviderView {
        let directory = self.inner.directory.borrow().clone();
        match directory.iter().find(|v| v.config.slug == config.slug) {
            Some(live) => ProviderView {
                running: live.running && config.is_active,
                health: live.health.clone(),
                in_flight: live.in_flight,
                config,
            },
            None => ProviderView {
                config,
                running: false,
                health: ProviderHealth::fresh(),
                in_flight: 0,
            },
        }
    }

    /// Every stored provider, active or not, default first and then by priority, each with its
    /// live health.
    pub async fn configured_providers(&self) -> Result<Vec<ProviderView>, EngineError> {
        let mut configs = self.inner.store.providers().await?;
        configs.sort_by(|a, b| {
            (!a.is_default, a.priority, &a.slug).cmp(&(!b.is_default, b.priority, &b.slug))
        });
        Ok(configs.into_iter().map(|c| self.view(c)).collect())
    }

    /// One stored provider, by id or slug, with its live health.
    pub async fn configured_provider(&self, id_or_slug: &str) -> Result<ProviderView, EngineError> {
        if ProviderId::parse(id_or_slug).is_some() {
            return Ok(self.view(self.stored_provider(id_or_slug).await?));
        }
        self.inner
            .store
            .providers()
            .await?
            .into_iter()
            .find(|p| p.slug == id_or_slug)
            .map(|c| self.view(c))
            .ok_or_else(|| EngineError::not_found("provider", id_or_slug))
    }

    /// Stores a new provider and starts it when active. The first provider becomes the default.
    /// A taken slug is a CONFLICT.
    pub async fn create_provider(&self, new: NewProvider) -> Result<ProviderView, EngineError> {
        let name = valid_name(&new.name)?;
        let slug = valid_slug(&new.slug)?;
        let kind = new.kind.ok_or_else(|| {
            EngineError::invalid("kind", "one of SMSO, TWILIO, VONAGE, HTTP, MOCK")
        })?;
        let api_base_url = valid_url(new.api_base_url.as_deref())?;
        let sender_id = valid_sender("senderId", new.sender_id.as_deref())?;
        let features = valid_features(new.features)?;
        let settings = valid_settings(new.settings)?;
        let existing = self.inner.store.providers().await?;
        if existing.iter().any(|p| p.slug == slug) {
            return Err(EngineError::Conflict(format!(
                "a provider with the slug {slug:?} already exists"
            )));
        }
        let (credentials, api_key_hint) = self.seal(kind, new.credentials.as_ref())?;
        let now = Utc::now();
        let config = ProviderConfig {
            id: ProviderId::generate(),
            name,
            slug,
            kind,
            is_active: new.is_active,
            is_default: !existing.iter().any(|p| p.is_default),
            priority: new.priority,
            features,
            sender_id,
            api_base_url,
            credentials,
            api_key_hint,
            settings,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.insert_provider(&config).await?;
        tracing::info!(provider = %config.slug, provider_id = %config.id, kind = kind.as_str(), is_active = config.is_active, "provider created");
        self.reconfigure(&config.id).await?;
        Ok(self.view(config))
    }

    /// Changes the given fields and restarts (or stops) the provider's actor to match. Calls in
    /// flight finish on the old client; their messages are not lost.
    pub async fn update_provider(
        &self,
        id: &str,
        patch: ProviderPatch,
    ) -> Result<ProviderView, EngineError> {
        let mut config = self.stored_provider(id).await?;
        if let Some(name) = &patch.name {
            config.name = valid_name(name)?;
        }
        if let Some(url) = &patch.api_base_url {
            config.api_base_url = valid_url(url.as_deref())?;
        }
        if let Some(sender) = &patch.sender_id {
            config.sender_id = valid_sender("senderId", sender.as_deref())?;
        }
        if let Some(features) = patch.features {
            config.features = valid_features(features)?;
        }
        if let Some(settings) = patch.settings {
            config.settings = valid_settings(Some(settings))?;
        }
        if let Some(priority) = patch.priority {
            config.priority = priority;
        }
        if let Some(active) = patch.is_active {
            config.is_active = active;
        }
        let kind = patch.kind.unwrap_or(config.kind);
        match &patch.credentials {
            Some(credentials) => {
                (config.credentials, config.api_key_hint) = self.seal(kind, Some(credentials))?;
            }
            // The stored credentials were checked against the old kind; a new kind needs its own.
            None if kind != config.kind => {
                (config.credentials, config.api_key_hint) = self.seal(kind, None)?;
            }
            None => {}
        }
        config.kind = kind;
        config.updated_at = Utc::now();
        self.inner.store.update_provider(&config).await?;
        tracing::info!(provider = %config.slug, provider_id = %config.id, is_active = config.is_active, credentials_changed = patch.credentials.is_some(), "provider updated");
        self.reconfigure(&config.id).await?;
        Ok(self.view(config))
    }

    /// Makes this provider the default (and active). The previous default stops being one in the
    /// same store write, so there is never more than one.
    pub async fn activate_provider(&self, id: &str) -> Result<ProviderView, EngineError> {
        let mut config = self.stored_provider(id).await?;
        let previous: Vec<ProviderId> = self
            .inner
            .store
            .providers()
            .await?
            .into_iter()
            .filter(|p| p.is_default && p.id != config.id)
            .map(|p| p.id)
            .collect();
        if !config.is_active {
            config.is_active = true;
            config.updated_at = Utc::now();
            self.inner.store.update_provider(&config).await?;
        }
        self.inner.store.set_default_provider(&config.id).await?;
        config.is_default = true;
        tracing::info!(provider = %config.slug, provider_id = %config.id, "provider is now the default");
        // Each provider whose flag changed is restarted with it, so the Router orders them anew.
        for old in previous.iter().chain(std::iter::once(&config.id)) {
            self.reconfigure(old).await?;
        }
        Ok(self.view(config))
    }

    /// Removes the provider and stops its actor. The default cannot be removed while other
    /// providers exist (activate another first): that would leave none as the default.
    pub async fn delete_provider(&self, id: &str) -> Result<ProviderConfig, EngineError> {
        let config = self.stored_provider(id).await?;
        if config.is_default {
            let others = self.inner.store.providers().await?.len() > 1;
            if others {
                return Err(EngineError::Conflict(format!(
                    "{} is the default provider; activate another before deleting it",
                    config.slug
                )));
            }
        }
        if !self.inner.store.delete_provider(&config.id).await? {
            return Err(EngineError::not_found("provider", id));
        }
        tracing::info!(provider = %config.slug, provider_id = %config.id, "provider deleted");
        // Stopping by slug also drops it from the Router when its actor was not running.
        let _ = self
            .inner
            .supervisor
            .cast(SupervisorMsg::StopProvider(config.slug.clone()));
        self.reconfigure(&config.id).await?;
        Ok(config)
    }

    /// Sends a message through this provider only and waits up to `wait` for a final state.
    /// Returns the message as it is then (still SENT, say, when no receipt came in time).
    pub async fn send_test(
        &self,
        id: &str,
        to: &str,
        body: &str,
        wait: Duration,
    ) -> Result<Message, EngineError> {
        let config = self.configured_provider(id).await?.config;
        let accepted = self
            .send(SendSms {
                to: to.to_owned(),
                body: body.to_owned(),
                message_type: MessageType::Transactional,
                provider: Some(config.slug.clone()),
                ..SendSms::default()
            })
            .await?;
        tracing::info!(provider = %config.slug, message_id = %accepted.id, "test message sent");
        let mut updates = self
            .subscribe(UpdateFilter {
                message_id: Some(accepted.id.clone()),
                ..UpdateFilter::default()
            })
            .await?;
        let mut last = accepted;
        let _ = tokio::time::timeout(wait, async {
            while let Some(update) = updates.next().await {
                last = (*update).clone();
                if last.status.is_final() {
                    break;
                }
            }
        })
        .await;
        Ok(last)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(err: EngineError) -> &'static str {
        match err {
            EngineError::InvalidInput { field, .. } => field,
            other => panic!("not invalid input: {other}"),
        }
    }

    #[test]
    fn each_kind_takes_its_own_credentials_and_hints_its_main_secret() {
        let smso = check_credentials(
            ProviderKind::Smso,
            Some(&json!({"apiKey": "key-0123456789"})),
        );
        assert_eq!(smso.unwrap().as_deref(), Some("****6789"));
        let twilio = json!({"accountSid": "AC123", "authToken": "tok-abcdef123f9a"});
        assert_eq!(
            check_credentials(ProviderKind::Twilio, Some(&twilio))
                .unwrap()
                .as_deref(),
            Some("****3f9a")
        );
        let vonage = json!({"apiKey": "k", "apiSecret": "secret-000011112222"});
        assert_eq!(
            check_credentials(ProviderKind::Vonage, Some(&vonage))
                .unwrap()
                .as_deref(),
            Some("****2222")
        );
        assert_eq!(check_credentials(ProviderKind::Mock, None).unwrap(), None);
    }

    #[test]
    fn wrong_credentials_name_the_field_and_never_the_value() {
        let missing = check_credentials(ProviderKind::Twilio, Some(&json!({"accountSid": "AC1"})));
        assert_eq!(field(missing.unwrap_err()), "credentials.authToken");
        let unknown = check_credentials(
            ProviderKind::Smso,
            Some(&json!({"apiKey": "k", "hunter22": "x"})),
        )
        .unwrap_err();
        assert!(!unknown.to_string().contains("hunter22"), "{unknown}");
        assert_eq!(field(unknown), "credentials");
        let empty = check_credentials(
            ProviderKind::Vonage,
            Some(&json!({"apiKey": "k", "apiSecret": " "})),
        );
        assert_eq!(field(empty.unwrap_err()), "credentials.apiSecret");
        assert_eq!(
            field(check_credentials(ProviderKind::Smso, None).unwrap_err()),
            "credentials"
        );
        let mock = check_credentials(ProviderKind::Mock, Some(&json!({"apiKey": "x"})));
        assert_eq!(field(mock.unwrap_err()), "credentials");
    }

    #[test]
    fn slugs_are_short_lower_case_words() {
        for ok in ["smso", "twilio-eu", "p1"] {
            assert_eq!(valid_slug(ok).unwrap(), ok);
        }
        for bad in ["", "-x", "SMSO", "a b", "a_b", &"x".repeat(33)] {
            assert_eq!(field(valid_slug(bad).unwrap_err()), "slug", "{bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_credentials() {
        let new = NewProvider {
            slug: "s".into(),
            credentials: Some(json!({"apiKey": "very-secret-value"})),
            ..NewProvider::default()
        };
        let patch = ProviderPatch {
            credentials: new.credentials.clone(),
            ..ProviderPatch::default()
        };
        for shown in [format!("{new:?}"), format!("{patch:?}")] {
            assert!(!shown.contains("very-secret-value"), "{shown}");
        }
    }
}
