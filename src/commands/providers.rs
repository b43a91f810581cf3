//! `smsgate providers add|list|update|activate|remove`: provider administration on the store,
//! with the same checks as the API (it is the same [`ProviderCatalog`]). Credentials are read
//! from a file or standard input (`--credentials-file -`), never from the command line, where
//! shell history and `ps` would keep them.

use super::cli_actor;
use crate::{audit::AuditLog, cli::ProvidersCommand};
use smsgate_actors::{
    domain::{provider_snapshot, AuditAction, AuditRecord},
    ports::AuditUnavailable,
};
use smsgate_actors::{
    domain::{ProviderConfig, ProviderKind},
    EngineError, NewProvider, ProviderCatalog, ProviderPatch,
};
use std::{
    io::Read,
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum ProviderCommandError {
    #[error(transparent)]
    Refused(#[from] EngineError),
    #[error("could not read the credentials from {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The reason is serde's, which names a line and column, never the content.
    #[error("{what} is not a JSON object: line {line}, column {column}")]
    NotJson {
        what: &'static str,
        line: usize,
        column: usize,
    },
    #[error("kind must be one of smso, twilio, vonage, http, mock")]
    Kind,
    #[error("the change was made but could not be recorded in the audit log")]
    NotRecorded(#[source] AuditUnavailable),
}

/// Reads a JSON object from `path`, `-` meaning standard input.
pub fn read_json(
    path: &Path,
    what: &'static str,
) -> Result<serde_json::Value, ProviderCommandError> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|source| ProviderCommandError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_json(&text, what)
}

pub fn parse_json(
    text: &str,
    what: &'static str,
) -> Result<serde_json::Value, ProviderCommandError> {
    serde_json::from_str(text).map_err(|e| ProviderCommandError::NotJson {
        what,
        line: e.line(),
        column: e.column(),
    })
}

pub fn parse_kind(raw: &str) -> Result<ProviderKind, ProviderCommandError> {
    ProviderKind::parse(raw).ok_or(ProviderCommandError::Kind)
}

/// One line per provider: the columns an admin needs to pick one; secrets only as hints.
pub fn table(providers: &[ProviderConfig]) -> String {
    let mut out = format!(
        "{:<36} {:<16} {:<7} {:<6} {:<7} {:>8}  {}\n",
        "ID", "SLUG", "KIND", "ACTIVE", "DEFAULT", "PRIORITY", "KEY"
    );
    for p in providers {
        out.push_str(&format!(
            "{:<36} {:<16} {:<7} {:<6} {:<7} {:>8}  {}\n",
            p.id.to_string(),
            p.slug,
            p.kind.as_str().to_lowercase(),
            if p.is_active { "yes" } else { "no" },
            if p.is_default { "yes" } else { "no" },
            p.priority,
            p.api_key_hint.as_deref().unwrap_or("-"),
        ));
    }
    out
}

pub async fn list(catalog: &ProviderCatalog) -> Result<String, ProviderCommandError> {
    Ok(table(&catalog.list().await?).trim_end().to_owned())
}

pub async fn add(
    catalog: &ProviderCatalog,
    new: NewProvider,
) -> Result<String, ProviderCommandError> {
    let created = catalog.create(new).await?;
    Ok(format!(
        "added {} ({}){}; a running server starts it on its next restart{}",
        created.slug,
        created.id,
        if created.is_default {
            ", the default"
        } else {
            ""
        },
        shown_once(&created)
    ))
}

/// The webhook path of a provider whose secret was just made, to show this once.
fn shown_once(config: &ProviderConfig) -> String {
    match (&config.webhook_secret, config.webhook_path()) {
        (Some(_), Some(path)) => {
            format!("\nwebhook path (after public_url; shown only now, keep it): {path}")
        }
        _ => String::new(),
    }
}

/// Replaces the provider's webhook path secret; the old URL answers 404 from then on.
pub async fn rotate_webhook_secret(
    catalog: &ProviderCatalog,
    id_or_slug: &str,
) -> Result<String, ProviderCommandError> {
    let rotated = catalog.rotate_webhook_secret(id_or_slug).await?;
    Ok(format!(
        "rotated the webhook secret of {}; a running server uses it after its next restart{}",
        rotated.slug,
        shown_once(&rotated)
    ))
}

pub async fn update(
    catalog: &ProviderCatalog,
    id_or_slug: &str,
    patch: ProviderPatch,
) -> Result<String, ProviderCommandError> {
    let changed = catalog.update(id_or_slug, patch).await?;
    Ok(format!(
        "updated {}; a running server uses the change after its next restart",
        changed.slug
    ))
}

pub async fn activate(
    catalog: &ProviderCatalog,
    id_or_slug: &str,
) -> Result<String, ProviderCommandError> {
    let (config, _) = catalog.activate(id_or_slug).await?;
    Ok(format!("{} is now the default provider", config.slug))
}

pub async fn remove(
    catalog: &ProviderCatalog,
    id_or_slug: &str,
) -> Result<String, ProviderCommandError> {
    let removed = catalog.delete(id_or_slug).await?;
    Ok(format!("removed {} ({})", removed.slug, removed.id))
}

/// Runs one `providers` subcommand and records the change in the audit log.
pub async fn run(
    command: ProvidersCommand,
    catalog: &ProviderCatalog,
    audit: &AuditLog,
) -> Result<String, ProviderCommandError> {
    let json = |path: Option<PathBuf>, what| path.map(|p| read_json(&p, what)).transpose();
    match command {
        ProvidersCommand::List => list(catalog).await,
        ProvidersCommand::Add {
            name,
            slug,
            kind,
            api_base_url,
            sender_id,
            priority,
            inactive,
            features,
            credentials_file,
            settings_file,
        } => {
            let new = NewProvider {
                name,
                slug,
                kind: Some(parse_kind(&kind)?),
                api_base_url,
                sender_id,
                priority,
                is_active: !inactive,
                features,
                credentials: json(credentials_file, "credentials")?,
                settings: json(settings_file, "settings")?,
            };
            let slug = new.slug.clone();
            let said = add(catalog, new).await?;
            let after = catalog.find(&slug).await?;
            let target = after.id.to_string();
            record(
                audit,
                AuditAction::ProviderCreated,
                target,
                None,
                Some(&after),
            )
            .await?;
            Ok(said)
        }
        ProvidersCommand::Update {
            id,
            name,
            kind,
            api_base_url,
            sender_id,
            priority,
            active,
            credentials_file,
            settings_file,
        } => {
            let patch = ProviderPatch {
                name,
                kind: kind.as_deref().map(parse_kind).transpose()?,
                // An empty value clears it: `--sender-id ''`.
                api_base_url: api_base_url.map(|u| Some(u).filter(|u| !u.is_empty())),
                sender_id: sender_id.map(|s| Some(s).filter(|s| !s.is_empty())),
                priority,
                is_active: active,
                features: None,
                credentials: json(credentials_file, "credentials")?,
                settings: json(settings_file, "settings")?,
            };
            let change = update(catalog, &id, patch);
            recorded(catalog, audit, &id, AuditAction::ProviderUpdated, change).await
        }
        ProvidersCommand::Activate { id } => {
            let change = activate(catalog, &id);
            recorded(catalog, audit, &id, AuditAction::ProviderActivated, change).await
        }
        ProvidersCommand::RotateWebhookSecret { id } => {
            let said = rotate_webhook_secret(catalog, &id).await?;
            let target = catalog.find(&id).await?.id.to_string();
            record(
                audit,
                AuditAction::ProviderWebhookSecretRotated,
                target,
                None,
                None,
            )
            .await?;
            Ok(said)
        }
        ProvidersCommand::Remove { id } => {
            let before = catalog.find(&id).await?;
            let said = remove(catalog, &id).await?;
            let target = before.id.to_string();
            record(
                audit,
                AuditAction::ProviderDeleted,
                target,
                Some(&before),
                None,
            )
            .await?;
            Ok(said)
        }
    }
}

/// Runs `change` on provider `id` and records it with the provider as it was before and after.
async fn recorded(
    catalog: &ProviderCatalog,
    audit: &AuditLog,
    id: &str,
    action: AuditAction,
    change: impl std::future::Future<Output = Result<String, ProviderCommandError>>,
) -> Result<String, ProviderCommandError> {
    let before = catalog.find(id).await?;
    let said = change.await?;
    let after = catalog.find(id).await?;
    let target = after.id.to_string();
    record(audit, action, target, Some(&before), Some(&after)).await?;
    Ok(said)
}

async fn record(
    audit: &AuditLog,
    action: AuditAction,
    target: String,
    before: Option<&ProviderConfig>,
    after: Option<&ProviderConfig>,
) -> Result<(), ProviderCommandError> {
    audit
        .record(
            AuditRecord::new(cli_actor(), action, Some(target))
                .with_change(before.map(provider_snapshot), after.map(provider_snapshot)),
        )
        .await
        .map_err(ProviderCommandError::NotRecorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{secrets::Keyring, store::EmbeddedStore};
    use serde_json::json;
    use smsgate_actors::ports::{SecretSealer, Store};
    use std::sync::Arc;

    const SECRET: &str = "sk-cli-secret-00001234";

    /// The webhook path in what a command printed.
    fn printed_path(said: &str) -> &str {
        said.lines()
            .find_map(|l| l.split_once("keep it): ").map(|(_, path)| path))
            .unwrap_or_else(|| panic!("no webhook path in {said}"))
    }

    #[tokio::test]
    async fn the_webhook_path_is_printed_once_when_made_and_rotating_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let key = Keyring::generate_key();
        let sealer: Arc<dyn SecretSealer> = Arc::new(Keyring::new([key.as_str()]).unwrap());
        let catalog = ProviderCatalog::new(store.clone(), sealer);
        let said = add(
            &catalog,
            NewProvider {
                name: "SMSO".into(),
                slug: "smso".into(),
                kind: Some(ProviderKind::Smso),
                is_active: true,
                credentials: Some(json!({ "apiKey": SECRET })),
                ..NewProvider::default()
            },
        )
        .await
        .unwrap();
        let stored = catalog.find("smso").await.unwrap();
        let secret = stored.webhook_secret.clone().unwrap();
        let first = printed_path(&said).to_owned();
        assert_eq!(first, format!("/webhooks/smso/{}/{secret}", stored.id));
        assert!(!list(&catalog).await.unwrap().contains(&secret));

        let said = rotate_webhook_secret(&catalog, "smso").await.unwrap();
        let second = printed_path(&said).to_owned();
        assert_ne!(second, first);
        assert_eq!(
            catalog.find("smso").await.unwrap().webhook_path(),
            Some(second)
        );

        add(
            &catalog,
            NewProvider {
                name: "Mock".into(),
                slug: "mock".into(),
                kind: Some(ProviderKind::Mock),
                is_active: true,
                ..NewProvider::default()
            },
        )
        .await
        .unwrap();
        let refused = rotate_webhook_secret(&catalog, "mock").await.unwrap_err();
        assert!(
            refused.to_string().contains("no webhook secret"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn add_list_update_activate_and_remove_work_on_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let key = Keyring::generate_key();
        let ring = Arc::new(Keyring::new([key.as_str()]).unwrap());
        let sealer: Arc<dyn SecretSealer> = ring.clone();
        let catalog = ProviderCatalog::new(store.clone(), sealer);

        let said = add(
            &catalog,
            NewProvider {
                name: "SMSO".into(),
                slug: "smso".into(),
                kind: Some(parse_kind("smso").unwrap()),
                is_active: true,
                priority: 10,
                credentials: Some(
                    parse_json(&format!("{{\"apiKey\": \"{SECRET}\"}}"), "credentials").unwrap(),
                ),
                ..NewProvider::default()
            },
        )
        .await
        .unwrap();
        assert!(
            said.contains("added smso") && said.contains("the default"),
            "{said}"
        );
        add(
            &catalog,
            NewProvider {
                name: "Mock".into(),
                slug: "mock".into(),
                kind: Some(ProviderKind::Mock),
                is_active: true,
                ..NewProvider::default()
            },
        )
        .await
        .unwrap();

        let listed = list(&catalog).await.unwrap();
        assert!(
            listed.contains("****1234") && !listed.contains(SECRET),
            "{listed}"
        );
        assert_eq!(listed.lines().count(), 3, "{listed}");

        update(
            &catalog,
            "smso",
            ProviderPatch {
                priority: Some(3),
                ..ProviderPatch::default()
            },
        )
        .await
        .unwrap();
        activate(&catalog, "mock").await.unwrap();
        let rows = store.providers().await.unwrap();
        let smso = rows.iter().find(|p| p.slug == "smso").unwrap();
        assert_eq!((smso.priority, smso.is_default), (3, false));
        assert!(rows.iter().find(|p| p.slug == "mock").unwrap().is_default);
        // Sealed with the configured key, not stored in plaintext.
        let token = smso.credentials.as_deref().unwrap();
        assert!(!token.contains(SECRET));
        assert_eq!(ring.open(token).unwrap(), json!({ "apiKey": SECRET }));

        let refused = remove(&catalog, "mock").await.unwrap_err();
        assert!(
            refused.to_string().contains("default provider"),
            "{refused}"
        );
        remove(&catalog, "smso").await.unwrap();
        assert_eq!(store.providers().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_command_line_refuses_what_the_adapter_would_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keyring::generate_key();
        let offline = crate::commands::Offline {
            store: Arc::new(EmbeddedStore::open(dir.path()).unwrap()),
            keyring: Arc::new(Keyring::new([key.as_str()]).unwrap()),
            outbound: Default::default(),
        };
        let catalog = offline.catalog();
        let smso = |settings: serde_json::Value, url: Option<&str>| NewProvider {
            name: "SMSO".into(),
            slug: "smso".into(),
            kind: Some(ProviderKind::Smso),
            api_base_url: url.map(str::to_owned),
            credentials: Some(json!({ "apiKey": SECRET })),
            settings: Some(settings),
            ..NewProvider::default()
        };
        for (new, expected) in [
            (
                smso(json!({"connect_timeout_ms": 0}), None),
                "settings.connect_timeout_ms",
            ),
            (
                smso(json!({"credit_unit": 5}), None),
                "settings.credit_unit",
            ),
            (
                smso(json!({}), Some("http://169.254.169.254/api/v1/")),
                "apiBaseUrl",
            ),
        ] {
            match add(&catalog, new).await {
                Err(ProviderCommandError::Refused(EngineError::InvalidInput { field, .. })) => {
                    assert_eq!(field, expected);
                }
                other => panic!("{expected}: not refused: {other:?}"),
            }
        }
        assert!(offline.store.providers().await.unwrap().is_empty());
        add(&catalog, smso(json!({"credit_unit": "euros"}), None))
            .await
            .unwrap();
    }

    #[test]
    fn bad_credentials_json_is_refused_without_echoing_it() {
        let err = parse_json(&format!("{{\"apiKey\": {SECRET}}}"), "credentials").unwrap_err();
        assert!(!err.to_string().contains(SECRET), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
