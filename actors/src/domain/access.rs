//! Who may do what: the roles a token carries, the permissions each role has, and the caller of
//! a request. GraphQL, REST and the CLI all decide access by these, so none of them depends on
//! another for it.

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

/// One thing an operation may require of its caller.
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
    /// For a refusal's message: "your role may not …".
    pub fn action(self) -> &'static str {
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
    pub const ALL: [Role; 3] = [Role::Admin, Role::Service, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Service => "service",
            Self::Viewer => "viewer",
        }
    }

    /// The role named `raw` (any case, surrounding blanks ignored).
    pub fn parse(raw: &str) -> Option<Role> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw.trim()))
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

/// The authenticated caller of a request. The HTTP layer makes one once the bearer token checks
/// out (and puts it into a GraphQL request's or WebSocket connection's data); a request without
/// one is unauthenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who this is, for logs: the token's name, never the token.
    pub name: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_role_is_read_by_its_name_in_any_case() {
        assert_eq!(Role::parse(" Viewer "), Some(Role::Viewer));
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
