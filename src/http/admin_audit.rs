//! Admin actions are audited before they run, and refused ones are audited too.
//!
//! Before an admin runs an admin mutation (any root `Mutation` field but the message ones) or
//! a REST admin write, an `admin.requested` entry (who, which operation) is written; when it
//! cannot be, the action is refused with UNAVAILABLE (503 on REST) and nothing changes: fail
//! closed, without reaching into each handler or the engine. The action's own entry (with the
//! before/after) follows once it is done, so the log holds the request even if that second
//! write fails. A caller refused with FORBIDDEN on a GraphQL root field or a REST admin route
//! gets an `admin.refused` entry (who, what, with which role).

use crate::{
    audit::AuditLog,
    http::{
        auth::{verify_logged, Caller, Role},
        error::ApiError,
        AppState,
    },
};
use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
    ErrorExtensionValues, ServerError, ServerResult, Value,
};
use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;
use smsgate_actors::domain::{AuditAction, AuditRecord, Permission};
use smsgate_actors::EngineError;
use std::sync::Arc;

/// Root mutations that are not admin actions. Any other is audited first, so a mutation added
/// later is fail-closed by default rather than unaudited.
const MESSAGE_MUTATIONS: &[&str] = &["sendSms"];

/// A request path is caller text: kept to this many characters in an entry.
const MAX_TARGET: usize = 200;

fn requested(caller: &Caller, via: &str, operation: String) -> AuditRecord {
    AuditRecord {
        actor: caller.name.clone(),
        action: AuditAction::AdminRequested.as_str().into(),
        target: Some(operation),
        before: None,
        after: Some(json!({ "via": via })),
    }
}

fn refused(caller: &Caller, via: &str, operation: String) -> AuditRecord {
    AuditRecord {
        actor: caller.name.clone(),
        action: AuditAction::AdminRefused.as_str().into(),
        target: Some(operation),
        before: None,
        after: Some(json!({ "via": via, "role": caller.role.as_str(), "outcome": "refused" })),
    }
}

const NOT_RECORDED: &str =
    "the audit log cannot be written, so admin actions are refused until it can; nothing was changed";

/// Add to the schema with `.extension(AdminAudit::new(audit))`.
pub struct AdminAudit {
    gate: Arc<Gate>,
}

impl AdminAudit {
    pub fn new(audit: AuditLog) -> Self {
        Self {
            gate: Arc::new(Gate { audit }),
        }
    }
}

impl ExtensionFactory for AdminAudit {
    fn create(&self) -> Arc<dyn Extension> {
        self.gate.clone()
    }
}

struct Gate {
    audit: AuditLog,
}

#[async_trait::async_trait]
impl Extension for Gate {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let field = info.name;
        let caller = ctx.data_opt::<Caller>().cloned();
        let admin_mutation = info.parent_type == "Mutation" && !MESSAGE_MUTATIONS.contains(&field);
        if let Some(caller) = caller
            .as_ref()
            .filter(|c| c.role.can(Permission::ManageProviders))
        {
            if admin_mutation
                && self
                    .audit
                    .record(requested(caller, "graphql", field.to_owned()))
                    .await
                    .is_err()
            {
                let mut error = ServerError::new(NOT_RECORDED, None);
                let mut extensions = ErrorExtensionValues::default();
                extensions.set("code", "UNAVAILABLE");
                error.extensions = Some(extensions);
                return Err(error);
            }
        }
        let result = next.run(ctx, info).await;
        if let (Err(error), Some(caller)) = (&result, &caller) {
            let forbidden = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .is_some_and(|code| *code == Value::from("FORBIDDEN"));
            if forbidden {
                // Already logged at error level by the audit log when it fails; the answer
                // is FORBIDDEN either way.
                let _ = self
                    .audit
                    .record(refused(caller, "graphql", field.to_owned()))
                    .await;
            }
        }
        result
    }
}

/// Middleware on the REST admin routes: authenticates (401 or 429 as the routes would), audits
/// an admin's write before it runs (503 when it cannot be) and a FORBIDDEN answer after. The
/// caller is handed on, so the route's extractor does not look the token up again.
pub async fn rest_gate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = crate::http::auth::client_ip(request.extensions());
    let caller = match verify_logged(&state.verifier, request.headers(), client).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let path = request.uri().path();
    let operation: String = format!("{} {path}", request.method())
        .chars()
        .take(MAX_TARGET)
        .collect();
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if writes
        && caller.role == Role::Admin
        && state
            .audit
            .record(requested(&caller, "rest", operation.clone()))
            .await
            .is_err()
    {
        return ApiError::Engine(EngineError::Unavailable(NOT_RECORDED.into())).into_response();
    }
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    if response.status() == StatusCode::FORBIDDEN {
        let _ = state
            .audit
            .record(refused(&caller, "rest", operation))
            .await;
    }
    response
}
