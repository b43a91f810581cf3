//! The commands that work on the store directly, without a running server: key generation and
//! rotation, provider administration, API tokens. A running server reads providers from the store when it
//! starts, so changes made here reach it on its next restart; through the API they are live.
//!
//! Each command returns what it prints, so tests can check it; `main` prints it.

pub mod keys;
pub mod providers;
pub mod tokens;

use crate::{
    cli::{Command, ProvidersCommand, TokensCommand},
    config::Settings,
    secrets::Keyring,
    startup,
    store::EmbeddedStore,
};
use anyhow::Context as _;
use smsgate_actors::{ports::SecretSealer, NewProvider, ProviderCatalog, ProviderPatch};
use std::{path::PathBuf, sync::Arc};

/// The store and the keyring, opened from the configuration as `serve` opens them.
pub struct Offline {
    pub store: Arc<EmbeddedStore>,
    pub keyring: Arc<Keyring>,
}

fn open_store(settings: &Settings) -> anyhow::Result<Arc<EmbeddedStore>> {
    Ok(Arc::new(
        EmbeddedStore::open(&settings.data_dir).with_context(|| {
            format!(
                "could not open the embedded store in {}",
                settings.data_dir.display()
            )
        })?,
    ))
}

impl Offline {
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let store = open_store(settings)?;
        let mut notes = Vec::new();
        let keyring = Arc::new(startup::keyring(settings, &mut notes)?);
        for note in notes {
            eprintln!("{note}");
        }
        Ok(Self { store, keyring })
    }

    pub fn catalog(&self) -> ProviderCatalog {
        let sealer: Arc<dyn SecretSealer> = self.keyring.clone();
        ProviderCatalog::new(self.store.clone(), sealer)
    }
}

/// Runs one offline command and returns what to print.
pub async fn run(command: Command, settings: &Settings) -> anyhow::Result<String> {
    match command {
        Command::Keygen => Ok(keys::keygen()),
        Command::RotateKeys => {
            let offline = Offline::open(settings)?;
            let report = keys::rotate_keys(offline.store.as_ref(), &offline.keyring, None).await?;
            Ok(report.summary())
        }
        Command::Providers(command) => {
            let catalog = Offline::open(settings)?.catalog();
            Ok(run_providers(command, &catalog).await?)
        }
        Command::Tokens(command) => {
            // Tokens need no keyring: only the store.
            let store = open_store(settings)?;
            Ok(match command {
                TokensCommand::Create { role, name } => {
                    tokens::create(store.as_ref(), &name, crate::access::parse_role(&role)?).await?
                }
                TokensCommand::List => tokens::list(store.as_ref()).await?,
                TokensCommand::Revoke { name } => tokens::revoke(store.as_ref(), &name).await?,
            })
        }
        Command::Serve | Command::Config(_) => {
            anyhow::bail!("not an offline command")
        }
    }
}

async fn run_providers(
    command: ProvidersCommand,
    catalog: &ProviderCatalog,
) -> Result<String, providers::ProviderCommandError> {
    let json =
        |path: Option<PathBuf>, what| path.map(|p| providers::read_json(&p, what)).transpose();
    match command {
        ProvidersCommand::List => providers::list(catalog).await,
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
                kind: Some(providers::kind(&kind)?),
                api_base_url,
                sender_id,
                priority,
                is_active: !inactive,
                features,
                credentials: json(credentials_file, "credentials")?,
                settings: json(settings_file, "settings")?,
            };
            providers::add(catalog, new).await
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
                kind: kind.as_deref().map(providers::kind).transpose()?,
                // An empty value clears it: `--sender-id ''`.
                api_base_url: api_base_url.map(|u| Some(u).filter(|u| !u.is_empty())),
                sender_id: sender_id.map(|s| Some(s).filter(|s| !s.is_empty())),
                priority,
                is_active: active,
                features: None,
                credentials: json(credentials_file, "credentials")?,
                settings: json(settings_file, "settings")?,
            };
            providers::update(catalog, &id, patch).await
        }
        ProvidersCommand::Activate { id } => providers::activate(catalog, &id).await,
        ProvidersCommand::Remove { id } => providers::remove(catalog, &id).await,
    }
}
