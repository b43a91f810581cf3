//! `[[providers]]` tables in `smsgate.toml`: providers an operator declares in the file rather
//! than through GraphQL. At start-up each one whose slug is not in the store yet is created
//! through the engine, exactly as `createProvider` would (validated, credentials sealed with
//! the keyring); a slug already stored is left alone, so changes made later through the API
//! are never overwritten by the file.

use super::ConfigError;
use serde::Deserialize;
use smsgate_actors::domain::ProviderKind;
use std::fmt;

/// One `[[providers]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    name: String,
    slug: String,
    kind: String,
    #[serde(default)]
    api_base_url: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default = "priority")]
    priority: i32,
    #[serde(default = "active")]
    is_active: bool,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    credentials: Option<toml::Table>,
    #[serde(default)]
    settings: Option<toml::Table>,
}

fn active() -> bool {
    true
}

/// As `createProvider`'s default: after the default, declared priorities go first.
fn priority() -> i32 {
    100
}

/// A declared provider, checked as far as the file can be; the engine checks the rest when it
/// creates it. `Debug` never shows the credentials.
#[derive(Clone)]
pub struct DeclaredProvider {
    pub name: String,
    pub slug: String,
    pub kind: ProviderKind,
    pub api_base_url: Option<String>,
    pub sender_id: Option<String>,
    pub priority: i32,
    pub is_active: bool,
    pub features: Vec<String>,
    /// The provider's secrets as JSON, e.g. `{"apiKey": ...}`; sealed before they are stored.
    pub credentials: Option<serde_json::Value>,
    pub settings: Option<serde_json::Value>,
}

impl fmt::Debug for DeclaredProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeclaredProvider")
            .field("slug", &self.slug)
            .field("kind", &self.kind)
            .field("is_active", &self.is_active)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl DeclaredProvider {
    /// What `smsgate config check` shows of it: what identifies it, never its credentials,
    /// and not its settings either (an operator may have pasted a key into a header there).
    pub fn redacted(&self) -> toml::Value {
        let mut table = toml::Table::new();
        let text = |s: &str| toml::Value::String(s.to_owned());
        table.insert("name".into(), text(&self.name));
        table.insert("slug".into(), text(&self.slug));
        table.insert("kind".into(), text(self.kind.as_str()));
        table.insert("is_active".into(), toml::Value::Boolean(self.is_active));
        let credentials = if self.credentials.is_some() {
            "[redacted]"
        } else {
            "[not set]"
        };
        table.insert("credentials".into(), text(credentials));
        toml::Value::Table(table)
    }
}

fn json(table: toml::Table) -> Result<serde_json::Value, ConfigError> {
    // Every TOML value has a JSON one (dates become strings).
    serde_json::to_value(table)
        .map_err(|e| ConfigError::invalid("providers", format!("not representable as JSON: {e}")))
}

pub(super) fn validate(raw: Vec<RawProvider>) -> Result<Vec<DeclaredProvider>, ConfigError> {
    let mut out: Vec<DeclaredProvider> = Vec::with_capacity(raw.len());
    for p in raw {
        let kind = ProviderKind::parse(&p.kind).ok_or_else(|| {
            ConfigError::invalid(
                "providers",
                format!(
                    "provider {:?}: kind {:?} is not one of SMSO, TWILIO, VONAGE, HTTP, MOCK",
                    p.slug, p.kind
                ),
            )
        })?;
        if out.iter().any(|d| d.slug == p.slug) {
            return Err(ConfigError::invalid(
                "providers",
                format!("the slug {:?} is declared twice", p.slug),
            ));
        }
        out.push(DeclaredProvider {
            name: p.name,
            slug: p.slug,
            kind,
            api_base_url: p.api_base_url,
            sender_id: p.sender_id,
            priority: p.priority,
            is_active: p.is_active,
            features: p.features,
            credentials: p.credentials.map(json).transpose()?,
            settings: p.settings.map(json).transpose()?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, Settings};

    fn load(file: &str) -> Result<Settings, ConfigError> {
        Settings::load_from(Some(file), Vec::<(String, String)>::new())
    }

    #[test]
    fn providers_tables_are_read_with_defaults_and_their_credentials_never_debug_printed() {
        let settings = load(
            r#"
            [[providers]]
            name = "SMSO"
            slug = "smso"
            kind = "smso"
            sender_id = "4"
            credentials = { apiKey = "very-secret-key-1234" }
            settings = { request_timeout_ms = 3000 }
            "#,
        )
        .unwrap();
        let [p] = settings.providers.as_slice() else {
            panic!("{:?}", settings.providers);
        };
        assert_eq!(p.kind, smsgate_actors::domain::ProviderKind::Smso);
        assert!(p.is_active);
        assert_eq!(p.priority, 100);
        assert_eq!(
            p.credentials,
            Some(serde_json::json!({"apiKey": "very-secret-key-1234"}))
        );
        assert_eq!(
            p.settings,
            Some(serde_json::json!({"request_timeout_ms": 3000}))
        );
        assert!(!format!("{settings:?}").contains("very-secret-key-1234"));
        let shown = settings.redacted_toml();
        assert!(shown.contains("slug = \"smso\""), "{shown}");
        assert!(!shown.contains("very-secret-key-1234"), "{shown}");
        assert!(load("").unwrap().providers.is_empty());
    }

    #[test]
    fn an_unknown_kind_a_repeated_slug_or_an_unknown_key_is_refused() {
        let one = "[[providers]]\nname = \"A\"\nslug = \"a\"\nkind = \"SMSO\"\n";
        let err = load(&one.replace("SMSO", "PIGEON"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PIGEON") && err.contains("providers"), "{err}");
        let err = load(&format!("{one}{one}")).unwrap_err().to_string();
        assert!(err.contains("declared twice"), "{err}");
        let err = load(&format!("{one}colour = \"red\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
