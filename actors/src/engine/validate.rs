//! What an admin may configure: the shapes of a new provider and of a change, and the checks
//! each field gets (credentials against the kind's shape, slug, name, URL, features, settings).
//! Errors name fields and keys, never values: a secret pasted into the wrong place is not echoed.

use super::valid_sender;
use crate::{
    domain::{secret_hint, ProviderKind, ProviderSettings},
    error::EngineError,
};
use serde_json::Value;
use std::fmt;

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
pub(crate) fn check_credentials(
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

pub(crate) fn valid_name(name: &str) -> Result<String, EngineError> {
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
pub(crate) fn valid_slug(slug: &str) -> Result<String, EngineError> {
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

pub(crate) fn valid_url(url: Option<&str>) -> Result<Option<String>, EngineError> {
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

pub(crate) fn valid_features(features: Vec<String>) -> Result<Vec<String>, EngineError> {
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

/// The engine's own settings keys (`ProviderSettings`), as the fields errors name.
const ENGINE_SETTINGS: &[&str] = &[
    "settings.max_concurrency",
    "settings.breaker_consecutive_failures",
    "settings.breaker_failure_rate",
    "settings.breaker_window",
    "settings.breaker_cooldown_ms",
    "settings.status_poll",
    "settings.status_poll_initial_ms",
    "settings.status_poll_max_ms",
    "settings.status_poll_batch",
    "settings.balance_recheck_ms",
    "settings.reconcile_delay_ms",
    "settings.reconcile_attempts",
];

/// A JSON object whose engine keys have the types the engine reads: a wrong one would
/// otherwise put every engine setting back to its default. The adapter's keys are checked by
/// the factory that builds it (`ProviderFactory::check`).
pub(crate) fn valid_settings(settings: Option<Value>) -> Result<Value, EngineError> {
    let map = match settings {
        None | Some(Value::Null) => return Ok(Value::Object(Default::default())),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(EngineError::invalid("settings", "must be a JSON object")),
    };
    for (key, value) in &map {
        let Some(field) = ENGINE_SETTINGS
            .iter()
            .find(|f| f.strip_prefix("settings.") == Some(key.as_str()))
        else {
            continue;
        };
        let alone = Value::Object(serde_json::Map::from_iter([(key.clone(), value.clone())]));
        if let Err(err) = serde_json::from_value::<ProviderSettings>(alone) {
            return Err(EngineError::invalid(field, err.to_string()));
        }
    }
    Ok(Value::Object(map))
}

/// `senderId`, checked as `sendSms` checks a message's sender.
pub(crate) fn valid_sender_id(raw: Option<&str>) -> Result<Option<String>, EngineError> {
    valid_sender("senderId", raw)
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
