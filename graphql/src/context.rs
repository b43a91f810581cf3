//! Who is calling, in the schema: the engine's `Caller` the HTTP layer puts in each request's data
//! (and in each WebSocket connection's data), and the guard that checks its role's permissions
//! before a resolver runs.

use crate::error::{ApiError, IntoGraphql};
use async_graphql::{Context, Data, Guard};
pub use smsgate_actors::domain::{Caller, Permission, Role};
use smsgate_actors::Engine;

/// Lets a field run only for callers whose role has `permission`.
pub struct RoleGuard {
    permission: Permission,
}

impl RoleGuard {
    pub fn new(permission: Permission) -> Self {
        Self { permission }
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let Some(caller) = ctx.data_opt::<Caller>() else {
            return Err(ApiError::Unauthenticated).gql();
        };
        if caller.role.can(self.permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                action: self.permission.action(),
            })
            .gql()
        }
    }
}

/// The engine the schema was built over.
pub(crate) fn engine<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Engine> {
    ctx.data::<Engine>()
        .map_err(|e| ApiError::Internal(e.message.into()))
        .gql()
}

/// The `on_connection_init` of a GraphQL-over-WebSocket connection: reads the token from the
/// `connection_init` payload, as `{"token": "…"}` or `{"Authorization": "Bearer …"}` (browsers
/// cannot set headers on a WebSocket), and puts the `Caller` that `verify` returns into the
/// connection's data. A missing or refused token is an error, which closes the connection.
///
/// ```text
/// WebSocket::new(schema, stream, protocol)
///     .on_connection_init(move |payload| async move { caller_from_init(&payload, |t| tokens.verify(t)) })
/// ```
pub fn caller_from_init(
    payload: &serde_json::Value,
    verify: impl Fn(&str) -> Option<Caller>,
) -> async_graphql::Result<Data> {
    let token = init_token(payload).ok_or(ApiError::Unauthenticated).gql()?;
    let caller = verify(token).ok_or(ApiError::Unauthenticated).gql()?;
    let mut data = Data::default();
    data.insert(caller);
    Ok(data)
}

/// The token a `connection_init` payload carries, if any: `{"token": …}` or
/// `{"Authorization": "Bearer …"}`.
pub fn init_token(payload: &serde_json::Value) -> Option<&str> {
    let object = payload.as_object()?;
    if let Some(token) = object.get("token").and_then(|t| t.as_str()) {
        return Some(token.trim()).filter(|t| !t.is_empty());
    }
    let header = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())?
        .trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_is_read_from_either_payload_shape() {
        assert_eq!(init_token(&json!({"token": "abc"})), Some("abc"));
        assert_eq!(
            init_token(&json!({"Authorization": "Bearer abc"})),
            Some("abc")
        );
        assert_eq!(
            init_token(&json!({"authorization": "bearer  abc "})),
            Some("abc")
        );
        assert_eq!(init_token(&json!({"Authorization": "Basic abc"})), None);
        assert_eq!(init_token(&json!({"Authorization": "Bearer "})), None);
        assert_eq!(init_token(&json!({"token": ""})), None);
        assert_eq!(init_token(&json!(null)), None);
        assert_eq!(init_token(&json!({})), None);
    }
}
