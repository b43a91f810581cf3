//! The `Store` backends: where messages, their events, providers and statistics are kept.
//!
//! The embedded SQLite store is the default: one file under the data directory, nothing to run
//! beside smsgate. MongoDB (`mongo`) is the production backend, which several instances can
//! share. Every backend answers to the same contract checks in `contract`. `open_store` opens
//! the one the settings name.

#[cfg(test)]
pub mod contract;
mod decode;
pub mod embedded;
pub mod mongo;

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;

use crate::{access::AccessStore, audit::AuditStore, config::Settings};
use anyhow::Context;
use smsgate_actors::ports::{AlertLog, InstanceId, LeaseHolder, Store};
use std::sync::Arc;

/// MongoDB when a connection string is set, else the embedded store; with the banner line that
/// says which. Neither the line nor an error names the connection string: it holds a password.
/// With MongoDB, named tokens (`AccessStore`), the audit log (`AuditStore`) and the alert history are kept
/// there too, shared by every instance.
pub struct OpenedStores {
    pub store: Arc<dyn Store>,
    pub access: Arc<dyn AccessStore>,
    pub audit: Arc<dyn AuditStore>,
    pub alert_log: Arc<dyn AlertLog>,
    /// The banner line.
    pub line: String,
    /// The MongoDB store again when other instances may share it (to follow their changes).
    pub shared: Option<MongoStore>,
}

pub async fn open_store(settings: &Settings) -> anyhow::Result<OpenedStores> {
    match &settings.mongodb_uri {
        Some(uri) => {
            let database = &settings.mongodb_database;
            let instance = settings
                .instance_id
                .clone()
                .map_or_else(InstanceId::generate, InstanceId::new);
            let holder = LeaseHolder::new(instance.clone(), settings.lease());
            let store = MongoStore::connect(uri.expose(), database)
                .await
                .with_context(|| format!("could not connect to MongoDB (database {database})"))?
                .with_holder(holder);
            store
                .set_log_retention(settings.log_retention_days)
                .await
                .context("could not set the log retention (TTL index on sms_logs)")?;
            Ok(OpenedStores {
                store: Arc::new(store.clone()),
                access: Arc::new(store.clone()),
                audit: Arc::new(store.clone()),
                alert_log: Arc::new(store.clone()),
                line: format!(
                    "store: MongoDB database {database} as instance {instance}, leases of {} ms",
                    settings.lease_ms
                ),
                shared: Some(store),
            })
        }
        None => {
            // Created here, owner-only, before the store would create it with the umask's mode.
            crate::secrets::create_private_dir(&settings.data_dir).with_context(|| {
                format!(
                    "could not create the data dir {}",
                    settings.data_dir.display()
                )
            })?;
            // One store, several ports: the engine's `Store` and smsgate's own access, audit and
            // alert storage.
            let store = open_embedded(settings)?;
            let line = format!("store: embedded SQLite in {}", settings.data_dir.display());
            Ok(OpenedStores {
                store: store.clone(),
                access: store.clone(),
                audit: store.clone(),
                alert_log: store,
                line,
                shared: None,
            })
        }
    }
}

/// The embedded store in the data dir (the offline commands use it directly).
pub fn open_embedded(settings: &Settings) -> anyhow::Result<Arc<EmbeddedStore>> {
    let store = EmbeddedStore::open(&settings.data_dir).with_context(|| {
        format!(
            "could not open the embedded store in {}",
            settings.data_dir.display()
        )
    })?;
    Ok(Arc::new(store))
}
