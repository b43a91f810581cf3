//! The message state machine: the statuses and the only transitions between them that are legal.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a message is in its life. `Delivered`, `Undelivered`, `Failed` and `Expired` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Retrying,
    Failed,
    Expired,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 8] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Retrying,
        Self::Failed,
        Self::Expired,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Expired
        )
    }

    /// The transition table. A receipt may overtake the provider's answer to the send, so
    /// `Sending` may go straight to a delivery outcome; nothing leaves a final state.
    pub fn can_become(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match self {
            Queued => matches!(next, Sending | Retrying | Failed | Expired),
            Sending => matches!(next, Sent | Delivered | Undelivered | Retrying | Failed),
            Retrying => matches!(next, Sending | Failed | Expired),
            Sent => matches!(next, Delivered | Undelivered),
            Delivered | Undelivered | Failed | Expired => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Delivered => "DELIVERED",
            Self::Undelivered => "UNDELIVERED",
            Self::Retrying => "RETRYING",
            Self::Failed => "FAILED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::{self, *};

    #[test]
    fn the_happy_path_is_legal() {
        for pair in [Queued, Sending, Sent, Delivered].windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn final_states_never_change() {
        for from in MessageStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in MessageStatus::ALL {
                assert!(!from.can_become(to), "{from} -> {to} must be refused");
            }
        }
    }

    #[test]
    fn a_sent_message_is_never_sent_again() {
        assert!(!Sent.can_become(Sending));
        assert!(!Sent.can_become(Retrying));
        assert!(!Sent.can_become(Queued));
    }

    #[test]
    fn nothing_returns_to_queued_and_expiry_only_before_sending() {
        for from in MessageStatus::ALL {
            assert!(!from.can_become(Queued));
        }
        assert!(Queued.can_become(Expired));
        assert!(Retrying.can_become(Expired));
        assert!(!Sending.can_become(Expired));
        assert!(!Sent.can_become(Expired));
    }

    #[test]
    fn names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
            assert_eq!(MessageStatus::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(MessageStatus::parse("LOST"), None);
    }
}
