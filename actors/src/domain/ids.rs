//! Typed, prefixed identifiers (`msg_…`, `prv_…`): opaque to API users, sortable by creation time.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id. UUIDv7 puts the creation time first, so ids sort in creation order and
            /// make stable pagination cursors.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts only ids of this type's shape; anything else cannot name a stored record.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| Self(raw.to_ascii_lowercase()))
            }

            /// Wraps an id read back from the store, which only ever holds ids made by `generate`.
            pub fn from_stored(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(MessageId, "msg_");
id_type!(ProviderId, "prv_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = MessageId::generate();
        let b = MessageId::generate();
        assert_eq!(MessageId::parse(a.as_str()), Some(a.clone()));
        assert!(a < b);
    }

    #[test]
    fn foreign_shapes_are_refused() {
        assert!(MessageId::parse("prv_0192f5a0c0de7000800000000000abcd").is_none());
        assert!(MessageId::parse("msg_xyz").is_none());
        assert!(MessageId::parse("").is_none());
    }
}
