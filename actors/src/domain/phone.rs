//! Recipients as E.164 numbers: parsed once at the edge, with Romania as the default region.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number for its country")]
    Invalid,
}

impl E164 {
    /// Parses a number as a person would type it; national numbers are read as Romanian
    /// (0755123456 → +40755123456), as our first users write them.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(PhoneError::Unparseable);
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::RO), trimmed)
            .map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Wraps a number read back from the store, where only parsed numbers are written.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn romanian_national_numbers_become_e164() {
        for raw in [
            "0755123456",
            "+40755123456",
            "0040755123456",
            "0755 123 456",
            "+40 755-123-456",
        ] {
            assert_eq!(
                E164::parse(raw).map(|n| n.0),
                Ok("+40755123456".into()),
                "{raw}"
            );
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(
            E164::parse("+14155552671").map(|n| n.0),
            Ok("+14155552671".into())
        );
        assert_eq!(
            E164::parse("+447911123456").map(|n| n.0),
            Ok("+447911123456".into())
        );
    }

    #[test]
    fn garbage_and_impossible_numbers_are_refused() {
        for raw in ["", "   ", "hello", "123", "+40 12", "07551234567890123"] {
            assert!(E164::parse(raw).is_err(), "{raw} must be refused");
        }
    }
}
