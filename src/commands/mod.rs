//! The commands that work on the store directly, without a running server: key generation and
//! rotation, provider administration, API tokens, audit verification, statistics rebuilds. Every change is recorded in
//! the audit log as done by `cli:<user>`. A running server reads providers from the store when it
//! starts, so changes made here reach it on its next restart; through the API they are live.
//!
//! Each command returns what it prints, so tests can check it; `main` prints it.

pub mod keys;
pub mod providers;
pub mod stats;
pub mod tokens;

use crate::{
    audit::AuditLog,
    cli::{AuditCommand, Command, StatsCommand},
    config::Settings,
    secrets::Keyring,
    startup,
    store::EmbeddedStore,
};
use anyhow::Context as _;
use smsgate_actors::domain::{AuditAction, AuditRecord};
use smsgate_actors::{ports::SecretSealer, ProviderCatalog};
use std::sync::Arc;

/// Said when an action was done but its audit entry could not be written.
const NOT_RECORDED: &str = "the change was made but could not be recorded in the audit log";

/// Who the audit log names for a command-line action: there is no token, so the OS user.
pub fn cli_actor() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_owned(),
    }
}

/// The store and the keyring, opened from the configuration as `serve` opens them.
pub struct Offline {
    pub store: Arc<EmbeddedStore>,
    pub keyring: Arc<Keyring>,
    /// Provider changes are checked by the adapters under this policy, as the server does.
    pub outbound: crate::providers::outbound::OutboundPolicy,
}

impl Offline {
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let store = crate::store::open_embedded(settings)?;
        let mut notes = Vec::new();
        let keyring = Arc::new(startup::keyring(settings, &mut notes)?);
        for note in notes {
            eprintln!("{note}");
        }
        Ok(Self {
            store,
            keyring,
            outbound: settings.outbound.clone(),
        })
    }

    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.store.clone())
    }

    pub fn catalog(&self) -> ProviderCatalog {
        let sealer: Arc<dyn SecretSealer> = self.keyring.clone();
        let checker = crate::providers::Factory::new(self.keyring.clone())
            .with_outbound(self.outbound.clone());
        ProviderCatalog::new(self.store.clone(), sealer).with_checker(Arc::new(checker))
    }
}

/// Runs one offline command and returns what to print.
pub async fn run(command: Command, settings: &Settings) -> anyhow::Result<String> {
    match command {
        Command::Keygen => Ok(keys::keygen()),
        Command::RotateKeys => {
            let offline = Offline::open(settings)?;
            let report = keys::rotate_keys(offline.store.as_ref(), &offline.keyring, None).await?;
            offline
                .audit()
                .record(
                    AuditRecord::new(cli_actor(), AuditAction::KeysRotated, None).with_change(
                        None,
                        Some(serde_json::json!({
                            "rotated": report.rotated,
                            "alreadyCurrent": report.current,
                        })),
                    ),
                )
                .await
                .context(NOT_RECORDED)?;
            Ok(report.summary())
        }
        Command::Providers(command) => {
            let offline = Offline::open(settings)?;
            Ok(providers::run(command, &offline.catalog(), &offline.audit()).await?)
        }
        Command::Tokens(command) => {
            // Tokens need no keyring: only the store.
            let store = crate::store::open_embedded(settings)?;
            let audit = AuditLog::new(store.clone());
            Ok(tokens::run(command, store.as_ref(), &audit).await?)
        }
        Command::Audit(AuditCommand::Verify { head: kept }) => {
            let audit = AuditLog::new(crate::store::open_embedded(settings)?);
            match audit.verify_anchored(kept.as_deref()).await? {
                Ok(verified) => Ok(verified.to_string()),
                Err(broken) => anyhow::bail!("audit log tampered with: {broken}"),
            }
        }
        Command::Stats(StatsCommand::Rebuild { day }) => {
            // The configured store, as `serve` opens it: MongoDB when configured.
            let crate::store::OpenedStores { store, audit, .. } =
                crate::store::open_store(settings).await?;
            let (rebuild, report) = stats::rebuild(store.as_ref(), day)
                .await
                .with_context(|| format!("could not rebuild the statistics of {day}"))?;
            AuditLog::new(audit)
                .record(
                    AuditRecord::new(
                        cli_actor(),
                        AuditAction::StatisticsRebuilt,
                        Some(day.to_string()),
                    )
                    .with_change(
                        Some(serde_json::json!({ "rows": rebuild.before.len() })),
                        Some(serde_json::json!({ "rows": rebuild.after.len() })),
                    ),
                )
                .await
                .context(NOT_RECORDED)?;
            Ok(report)
        }
        Command::Serve | Command::Config(_) => {
            anyhow::bail!("not an offline command")
        }
    }
}
