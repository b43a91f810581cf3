//! `smsgate keygen` and `smsgate rotate-keys`, and the start-up check that the configured keys
//! open every stored provider secret.
//!
//! Rotation re-encrypts each provider's credentials with the first configured key, one provider
//! per store write. Stopped half-way (a crash, Ctrl-C), every secret is still either under its
//! old key or under the new one, both of which the keyring opens, and a re-run skips those
//! already under the first key and finishes the rest.

use crate::secrets::{Keyring, SecretError};
use smsgate_actors::ports::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("could not read or write the providers")]
    Store(#[from] StoreError),
    /// Nothing of this provider was changed; those before it were rotated.
    #[error("the secret of provider {slug} cannot be decrypted with the configured keys; add the key it was made with after the new one")]
    Undecryptable {
        slug: String,
        #[source]
        source: SecretError,
    },
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Re-encrypted now, by slug.
    pub rotated: Vec<String>,
    /// Already under the first key (a previous run did them).
    pub current: Vec<String>,
    /// Without stored secrets (the mock, say).
    pub without_secret: Vec<String>,
}

impl Rotation {
    pub fn summary(&self) -> String {
        format!(
            "rotated {} provider secret(s) to the first key; {} already current; {} without secrets",
            self.rotated.len(),
            self.current.len(),
            self.without_secret.len()
        )
    }
}

/// A new random Fernet key, as `smsgate keygen` prints it.
pub fn keygen() -> String {
    Keyring::generate_key()
}

/// Re-encrypts every stored provider secret with the keyring's first key. `stop_after` ends the
/// run after that many writes (the tests use it to stop half-way; `None` in normal use).
pub async fn rotate_keys(
    store: &dyn Store,
    keyring: &Keyring,
    stop_after: Option<usize>,
) -> Result<Rotation, RotateError> {
    let mut report = Rotation::default();
    for mut provider in store.providers().await? {
        let Some(token) = provider.credentials.as_deref() else {
            report.without_secret.push(provider.slug);
            continue;
        };
        if keyring.is_current(token) {
            report.current.push(provider.slug);
            continue;
        }
        if stop_after.is_some_and(|limit| report.rotated.len() >= limit) {
            break;
        }
        let resealed = keyring
            .reseal(token)
            .map_err(|source| RotateError::Undecryptable {
                slug: provider.slug.clone(),
                source,
            })?;
        provider.credentials = Some(resealed);
        // One provider per write: this row is either old or new, never half of each.
        store.update_provider(&provider).await?;
        tracing::info!(provider = %provider.slug, "provider secret re-encrypted with the first key");
        report.rotated.push(provider.slug);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::unreadable_secrets;
    use crate::store::EmbeddedStore;
    use serde_json::json;
    use smsgate_actors::domain::ProviderConfig;
    use smsgate_actors::{ports::SecretSealer, NewProvider, ProviderCatalog};
    use std::sync::Arc;

    async fn store_with_three_secrets(old: &str) -> (tempfile::TempDir, Arc<EmbeddedStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let sealer: Arc<dyn SecretSealer> = Arc::new(Keyring::new([old]).unwrap());
        let catalog = ProviderCatalog::new(store.clone(), sealer);
        for slug in ["a", "b", "c"] {
            catalog
                .create(NewProvider {
                    name: slug.into(),
                    slug: slug.into(),
                    kind: Some(smsgate_actors::domain::ProviderKind::Smso),
                    credentials: Some(json!({ "apiKey": format!("key-of-{slug}-123456") })),
                    ..NewProvider::default()
                })
                .await
                .unwrap();
        }
        catalog
            .create(NewProvider {
                name: "m".into(),
                slug: "m".into(),
                kind: Some(smsgate_actors::domain::ProviderKind::Mock),
                ..NewProvider::default()
            })
            .await
            .unwrap();
        (dir, store)
    }

    fn opened_by(store_rows: &[ProviderConfig], ring: &Keyring) -> Vec<String> {
        store_rows
            .iter()
            .filter(|p| {
                p.credentials
                    .as_deref()
                    .is_some_and(|t| ring.open(t).is_ok())
            })
            .map(|p| p.slug.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_rotation_stopped_half_way_loses_nothing_and_a_rerun_finishes_it() {
        let (old, new) = (keygen(), keygen());
        let (_dir, store) = store_with_three_secrets(&old).await;
        let both = Keyring::new([new.as_str(), old.as_str()]).unwrap();
        let only_new = Keyring::new([new.as_str()]).unwrap();
        let only_old = Keyring::new([old.as_str()]).unwrap();

        let first = rotate_keys(store.as_ref(), &both, Some(1)).await.unwrap();
        assert_eq!(first.rotated.len(), 1, "{first:?}");
        let rows = store.providers().await.unwrap();
        assert_eq!(opened_by(&rows, &both).len(), 3, "every secret still opens");
        assert_eq!(opened_by(&rows, &only_new), first.rotated);
        assert_eq!(opened_by(&rows, &only_old).len(), 2);

        let second = rotate_keys(store.as_ref(), &both, None).await.unwrap();
        assert_eq!(
            (second.rotated.len(), second.current.clone()),
            (2, first.rotated)
        );
        assert_eq!(second.without_secret, ["m"]);
        let rows = store.providers().await.unwrap();
        assert_eq!(
            opened_by(&rows, &only_new).len(),
            3,
            "all under the new key"
        );
        assert!(
            opened_by(&rows, &only_old).is_empty(),
            "the old key is no longer needed"
        );
        let a = rows.iter().find(|p| p.slug == "a").unwrap();
        let plain = only_new.open(a.credentials.as_deref().unwrap()).unwrap();
        assert_eq!(
            plain,
            json!({ "apiKey": "key-of-a-123456" }),
            "the secret itself is kept"
        );
        assert!(unreadable_secrets(&only_new, &rows).is_empty());
    }

    #[tokio::test]
    async fn a_missing_old_key_stops_the_rotation_and_names_the_provider() {
        let (old, new) = (keygen(), keygen());
        let (_dir, store) = store_with_three_secrets(&old).await;
        let only_new = Keyring::new([new.as_str()]).unwrap();
        let err = rotate_keys(store.as_ref(), &only_new, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot be decrypted"), "{err}");
        let rows = store.providers().await.unwrap();
        assert_eq!(unreadable_secrets(&only_new, &rows), ["a", "b", "c"]);
    }
}
