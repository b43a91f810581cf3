//! `smsgate tokens create|list|revoke`: named API tokens with roles. `create` prints the token
//! once; only its digest is stored. A revoked token is refused from its next request on, by a
//! running server too (it looks named tokens up in the store at every request).

use super::cli_actor;
use crate::{
    access::{self, AccessError, AccessStore, StoredToken},
    audit::AuditLog,
    cli::TokensCommand,
};
use serde_json::json;
use smsgate_actors::domain::{AuditAction, AuditRecord};

#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("the change was made but could not be recorded in the audit log")]
    NotRecorded(#[source] smsgate_actors::ports::AuditUnavailable),
}

/// What the audit log keeps of a token: never the token or its digest.
fn snapshot(t: &StoredToken) -> serde_json::Value {
    json!({
        "name": t.name,
        "role": t.role.as_str(),
        "createdAt": t.created_at.to_rfc3339(),
        "revokedAt": t.revoked_at.map(|at| at.to_rfc3339()),
    })
}

/// Runs one `tokens` subcommand and records a creation or revocation in the audit log.
pub async fn run(
    command: TokensCommand,
    store: &dyn AccessStore,
    audit: &AuditLog,
) -> Result<String, TokenCommandError> {
    let (said, action, name, before, after) = match command {
        TokensCommand::List => return Ok(list(store).await?),
        TokensCommand::Create { role, name } => {
            let (token, stored) =
                access::create_token(store, &name, access::parse_role(&role)?).await?;
            let said = format!(
                "{}\n# token {} ({}) created; it is shown only now, keep it somewhere safe",
                token.expose(),
                stored.name,
                stored.role.as_str()
            );
            (
                said,
                AuditAction::TokenCreated,
                stored.name.clone(),
                None,
                Some(snapshot(&stored)),
            )
        }
        TokensCommand::Revoke { name } => {
            let revoked = access::revoke_token(store, &name).await?;
            let before = StoredToken {
                revoked_at: None,
                ..revoked.clone()
            };
            let said = format!("revoked {}; it is refused from now on", revoked.name);
            (
                said,
                AuditAction::TokenRevoked,
                revoked.name.clone(),
                Some(snapshot(&before)),
                Some(snapshot(&revoked)),
            )
        }
    };
    audit
        .record(AuditRecord::new(cli_actor(), action, Some(name)).with_change(before, after))
        .await
        .map_err(TokenCommandError::NotRecorded)?;
    Ok(said)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{audit::AuditStore, store::EmbeddedStore};

    #[tokio::test]
    async fn create_prints_the_token_once_and_list_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let audit = AuditLog::new(std::sync::Arc::new(store.clone()));
        let create = TokensCommand::Create {
            role: "viewer".into(),
            name: "grafana".into(),
        };
        let printed = run(create, &store, &audit).await.unwrap();
        let token = printed.lines().next().unwrap();
        assert!(token.starts_with("sgt_") && token.len() > 40, "{printed}");
        let listed = list(&store).await.unwrap();
        assert!(
            listed.contains("grafana") && listed.contains("viewer"),
            "{listed}"
        );
        assert!(!listed.contains(token), "{listed}");
        run(
            TokensCommand::Revoke {
                name: "grafana".into(),
            },
            &store,
            &audit,
        )
        .await
        .unwrap();
        let chain = store.audit_chain().await.unwrap();
        let actions: Vec<&str> = chain
            .iter()
            .map(|c| c.entry.record.action.as_str())
            .collect();
        assert_eq!(actions, ["token.created", "token.revoked"]);
        let logged = serde_json::to_string(
            &chain
                .iter()
                .map(|c| &c.entry.record.after)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(
            !logged.contains(token),
            "the audit log never holds the token"
        );
        let listed = list(&store).await.unwrap();
        assert!(
            !listed.lines().nth(1).unwrap().ends_with('-'),
            "revocation shown: {listed}"
        );
    }
}
