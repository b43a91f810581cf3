//! Who is calling and what they may do: the `Caller` the HTTP layer puts in each request's data
//! (and in each WebSocket connection's data), the permissions of each role, and the guards that
//! check them before a resolver runs.

use crate::error::{ApiError, IntoGraphql};
use async_graphql::{Context, Data, Guard};
use smsgate_actors::Engine;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// An application that sends messages: send, and read messages.
    Service,
    /// A dashboard or an auditor: read messages, providers and statistics; never send.
    Viewer,
}

/// One thing a resolver may require of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    SendMessages,
    ReadMessages,
    ReadProviders,
    ReadStatistics,
    /// Create, change, activate, delete and test providers.
    ManageProviders,
    /// Read the audit log of admin actions.
    ReadAudit,
    /// Follow alerts and read their history.
    ReadAlerts,
}

impl Permission {
    /// For the FORBIDDEN message: "your role may not …".
    fn action(self) -> &'static str {
        match self {
            Self::SendMessages => "send messages",
            Self::ReadMessages => "read messages",
            Self::ReadProviders => "read providers",
            Self::ReadStatistics => "read statistics",
            Self::ManageProviders => "manage providers",
            Self::ReadAudit => "read the audit log",
            Self::ReadAlerts => "read alerts",
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Service => "service",
            Self::Viewer => "viewer",
        }
    }

    /// The permission table, in one place.
    pub fn can(self, permission: Permission) -> bool {
        match self {
            Self::Admin => true,
            Self::Service => matches!(
                permission,
                Permission::SendMessages | Permission::ReadMessages
            ),
            Self::Viewer => matches!(
                permission,
                Permission::ReadMessages | Permission::ReadProviders | Permission::ReadStatistics
            ),
        }
    }
}

/// The authenticated caller of a request. The HTTP layer inserts one into every request's data
/// (or a connection's data, for WebSockets) once the bearer token checks out; a request without
/// one is UNAUTHENTICATED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who this is, for logs: the token's name, never the token.
    pub name: String,
    pub role: Role,
}

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
    fn each_role_has_exactly_its_permissions() {
        use Permission::*;
        let all = [
            SendMessages,
            ReadMessages,
            ReadProviders,
            ReadStatistics,
            ManageProviders,
            ReadAudit,
        ];
        for p in all {
            assert!(Role::Admin.can(p));
        }
        assert!(Role::Service.can(SendMessages) && Role::Service.can(ReadMessages));
        assert!(!Role::Service.can(ReadProviders) && !Role::Service.can(ReadStatistics));
        assert!(!Role::Viewer.can(SendMessages));
        assert!(Role::Viewer.can(ReadMessages));
        assert!(Role::Viewer.can(ReadProviders) && Role::Viewer.can(ReadStatistics));
        assert!(!Role::Service.can(ManageProviders) && !Role::Viewer.can(ManageProviders));
        assert!(!Role::Service.can(ReadAudit) && !Role::Viewer.can(ReadAudit));
    }

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
