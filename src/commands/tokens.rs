//! `smsgate tokens create|list|revoke`: named API tokens with roles. `create` prints the token
//! once; only its digest is stored. A revoked token is refused from its next request on, by a
//! running server too (it looks named tokens up in the store at every request).

use crate::access::{self, AccessError, AccessStore, StoredToken};
use smsgate_graphql::Role;

pub async fn create(
    store: &dyn AccessStore,
    name: &str,
    role: Role,
) -> Result<String, AccessError> {
    let (token, stored) = access::create_token(store, name, role).await?;
    Ok(format!(
        "{}\n# token {} ({}) created; it is shown only now, keep it somewhere safe",
        token.expose(),
        stored.name,
        stored.role.as_str()
    ))
}

/// One line per token: name, role, created, revoked; never a token or a digest.
pub fn table(tokens: &[StoredToken]) -> String {
    let mut out = format!(
        "{:<24} {:<8} {:<25} {}\n",
        "NAME", "ROLE", "CREATED", "REVOKED"
    );
    for t in tokens {
        out.push_str(&format!(
            "{:<24} {:<8} {:<25} {}\n",
            t.name,
            t.role.as_str(),
            t.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            t.revoked_at
                .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "-".to_owned())
        ));
    }
    out.trim_end().to_owned()
}

pub async fn list(store: &dyn AccessStore) -> Result<String, AccessError> {
    Ok(table(&store.tokens().await?))
}

pub async fn revoke(store: &dyn AccessStore, name: &str) -> Result<String, AccessError> {
    let revoked = access::revoke_token(store, name).await?;
    Ok(format!(
        "revoked {}; it is refused from now on",
        revoked.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    #[tokio::test]
    async fn create_prints_the_token_once_and_list_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let printed = create(&store, "grafana", Role::Viewer).await.unwrap();
        let token = printed.lines().next().unwrap();
        assert!(token.starts_with("sgt_") && token.len() > 40, "{printed}");
        let listed = list(&store).await.unwrap();
        assert!(
            listed.contains("grafana") && listed.contains("viewer"),
            "{listed}"
        );
        assert!(!listed.contains(token), "{listed}");
        revoke(&store, "grafana").await.unwrap();
        let listed = list(&store).await.unwrap();
        assert!(
            !listed.lines().nth(1).unwrap().ends_with('-'),
            "revocation shown: {listed}"
        );
    }
}
