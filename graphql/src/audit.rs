//! The audit log in the API: recording admin actions made through GraphQL (via the engine's
//! `AuditPort`, which the server implements over its own storage and puts in the schema data as
//! `Arc<dyn AuditPort>`) and the `auditLog` query for admins.

use crate::{
    context::{Caller, Permission, RoleGuard},
    error::{ApiError, IntoGraphql},
    scalars::DateTime,
};
use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use serde_json::Value;
use smsgate_actors::{
    domain::{provider_snapshot, AuditAction, AuditQuery, AuditRecord, ProviderConfig},
    ports::AuditPort,
};
use std::sync::Arc;

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 200;

/// Records an admin action made through GraphQL, as the caller. A failure to record is logged
/// (error level, for alerting) and does not undo or fail the action, which already happened.
pub(crate) async fn record(
    ctx: &Context<'_>,
    action: AuditAction,
    target: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
) {
    let Some(port) = ctx.data_opt::<Arc<dyn AuditPort>>() else {
        return;
    };
    let actor = ctx
        .data_opt::<Caller>()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let record = AuditRecord::new(actor, action, target).with_change(before, after);
    if let Err(err) = port.record(record).await {
        tracing::error!(action = action.as_str(), error.message = %err, "admin action not recorded in the audit log");
    }
}

/// Records an admin action on a provider: its id as the target, and its configuration before
/// and after (credentials only as their hint).
pub(crate) async fn record_provider(
    ctx: &Context<'_>,
    action: AuditAction,
    before: Option<&ProviderConfig>,
    after: Option<&ProviderConfig>,
) {
    let target = after.or(before).map(|c| c.id.to_string());
    let (before, after) = (before.map(provider_snapshot), after.map(provider_snapshot));
    record(ctx, action, target, before, after).await;
}

/// An admin action, as the audit log keeps it.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// Its position in the log, from 1; a gap means an entry was removed.
    pub seq: i64,
    pub at: DateTime,
    /// The name of the token that did it (`cli` for the command line).
    pub actor: String,
    pub action: String,
    /// The provider id or token name it acted on.
    pub target: Option<String>,
    /// The state before and after, with secrets only as hints.
    pub before: Option<Json<Value>>,
    pub after: Option<Json<Value>>,
    /// Hex SHA-256 over the previous entry's hash and this entry: `smsgate audit verify`
    /// recomputes the chain.
    pub hash: String,
}

#[derive(SimpleObject)]
pub struct AuditEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

#[derive(SimpleObject)]
pub struct AuditConnection {
    pub edges: Vec<AuditEdge>,
    pub page_info: crate::message::PageInfo,
}

/// Narrows the audit log; every given field must match exactly.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
}

#[derive(Default)]
pub struct AuditQueryRoot;

#[Object]
impl AuditQueryRoot {
    /// Admin actions, newest first, `first` (default 50, at most 200) after the cursor `after`.
    /// Admins only.
    #[graphql(
        guard = "RoleGuard::new(Permission::ReadAudit)",
        complexity = "crate::limits::page_cost(first, DEFAULT_PAGE, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default_with = "Some(DEFAULT_PAGE)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AuditConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(ApiError::invalid(
                "first",
                format!("must be between 0 and {MAX_PAGE}"),
            ))
            .gql();
        }
        let before_seq = match after {
            None => None,
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| ApiError::invalid("after", "not a cursor from auditLog"))
                    .gql()?,
            ),
        };
        let port = ctx
            .data::<Arc<dyn AuditPort>>()
            .map_err(|e| ApiError::Internal(e.message.into()))
            .gql()?;
        let filter = filter.unwrap_or_default();
        let limit = usize::try_from(first).unwrap_or(0);
        let mut entries = port
            .entries(&AuditQuery {
                action: filter.action,
                actor: filter.actor,
                target: filter.target,
                before_seq,
                limit: limit + 1,
            })
            .await
            .map_err(|e| ApiError::Unavailable(Box::new(e)))
            .gql()?;
        let has_next_page = entries.len() > limit;
        entries.truncate(limit);
        let edges: Vec<AuditEdge> = entries
            .into_iter()
            .map(|e| AuditEdge {
                cursor: e.seq.to_string(),
                node: AuditEntry {
                    seq: e.seq,
                    at: e.at.into(),
                    actor: e.record.actor,
                    action: e.record.action,
                    target: e.record.target,
                    before: e.record.before.map(Json),
                    after: e.record.after.map(Json),
                    hash: e.hash,
                },
            })
            .collect();
        let end_cursor = edges.last().map(|e| e.cursor.clone());
        Ok(AuditConnection {
            edges,
            page_info: crate::message::PageInfo {
                has_next_page,
                end_cursor,
            },
        })
    }
}
