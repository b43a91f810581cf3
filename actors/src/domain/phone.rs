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

    /// The number as a viewer may see it: the country code, the first three national digits
    /// and the last three (`+40755***456`), enough to tell numbers apart at a glance but not to
    /// call one. Short national numbers keep only their last two digits.
    pub fn masked(&self) -> String {
        let cc = phonenumber::parse(None, &self.0)
            .map(|n| n.code().value().to_string())
            .unwrap_or_default();
        let national = self
            .0
            .strip_prefix('+')
            .and_then(|digits| digits.strip_prefix(cc.as_str()))
            .filter(|_| !cc.is_empty())
            .unwrap_or_else(|| self.0.trim_start_matches('+'));
        let chars: Vec<char> = national.chars().collect();
        let tail = |n: usize| {
            chars[chars.len().saturating_sub(n)..]
                .iter()
                .collect::<String>()
        };
        if chars.len() >= 7 {
            let head: String = chars[..3].iter().collect();
            format!("+{cc}{head}***{}", tail(3))
        } else {
            format!("+{cc}***{}", tail(2))
        }
    }

    /// `text` with every occurrence of this number masked, for error texts that quote it.
    pub fn mask_in(&self, text: &str) -> String {
        text.replace(self.0.as_str(), &self.masked())
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
    fn a_masked_number_keeps_the_country_code_the_first_three_and_the_last_three_digits() {
        let ro = E164::parse("0755123456").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ro.masked(), "+40755***456");
        let us = E164::parse("+1 415 555 2671").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(us.masked(), "+1415***671");
        assert_eq!(E164::from_stored("+4012345".into()).masked(), "+40***45");
        assert_eq!(
            ro.mask_in("+40755123456 is not reachable"),
            "+40755***456 is not reachable"
        );
    }

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
