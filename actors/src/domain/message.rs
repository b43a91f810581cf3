//! The message: what was asked, where it is now, and the query shapes used to find messages.

use super::{
    event::{MessageError, MessageEvent},
    ids::MessageId,
    money::Money,
    phone::E164,
    status::MessageStatus,
    text::Encoding,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a message is for. It sets its lane (OTP first) and its default validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageType {
    Otp,
    #[default]
    Transactional,
    Marketing,
}

impl MessageType {
    pub const ALL: [MessageType; 3] = [Self::Otp, Self::Transactional, Self::Marketing];

    /// The seed's lower-case names, as stored and as used on REST.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::Transactional => "transactional",
            Self::Marketing => "marketing",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(raw))
    }

    /// How long a message of this type may wait before it is no use to anyone: an OTP after five
    /// minutes is worse than none.
    pub fn default_validity(self) -> chrono::Duration {
        match self {
            Self::Otp => chrono::Duration::minutes(5),
            Self::Transactional => chrono::Duration::hours(24),
            Self::Marketing => chrono::Duration::hours(72),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub to: E164,
    pub body: String,
    pub message_type: MessageType,
    pub sender: Option<String>,
    /// A provider slug the caller pinned: this message is never moved to another provider.
    pub pinned_provider: Option<String>,
    /// Scoped to the token that sent it (see [`scoped_key`]): another token's same key is
    /// another request.
    pub idempotency_key: Option<String>,
    /// The name of the token that sent it (never the token itself); `None` for messages sent
    /// before tokens were recorded. A service token reads only the messages it sent.
    pub sent_by: Option<String>,
    pub status: MessageStatus,
    /// The provider of the latest attempt.
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub encoding: Encoding,
    pub segments: u32,
    pub cost: Option<Money>,
    pub attempts: u32,
    pub error: Option<MessageError>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub events: Vec<MessageEvent>,
}

/// A refused status change: the state machine does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: MessageStatus,
    pub to: MessageStatus,
}

impl Message {
    /// Moves the message to `next`, recording the event. The only way the engine changes a status.
    pub fn transition(
        &mut self,
        next: MessageStatus,
        at: DateTime<Utc>,
        error: Option<MessageError>,
    ) -> Result<&MessageEvent, IllegalTransition> {
        if !self.status.can_become(next) {
            return Err(IllegalTransition {
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        self.updated_at = at;
        match next {
            MessageStatus::Sent => self.sent_at = Some(at),
            MessageStatus::Delivered => {
                self.delivered_at = Some(at);
                self.sent_at.get_or_insert(at);
            }
            _ => {}
        }
        if error.is_some() || next == MessageStatus::Delivered || next == MessageStatus::Sent {
            self.error = error.clone();
        }
        self.events.push(MessageEvent {
            status: next,
            at,
            provider: self.provider.clone(),
            error,
        });
        Ok(self
            .events
            .last()
            .unwrap_or_else(|| unreachable!("an event was just pushed")))
    }

    /// The time from the provider accepting the message to its delivery.
    pub fn delivery_time(&self) -> Option<chrono::Duration> {
        Some(self.delivered_at? - self.sent_at?)
    }
}

/// Which messages a listing wants; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub provider: Option<String>,
    pub message_type: Option<MessageType>,
    pub to: Option<E164>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// The kind of the message's current error.
    pub error_kind: Option<super::event::ErrorKind>,
    /// Only messages sent by this token (by name): what a service token is confined to.
    pub sent_by: Option<String>,
}

impl MessageFilter {
    pub fn matches(&self, m: &Message) -> bool {
        self.status.is_none_or(|s| s == m.status)
            && self
                .provider
                .as_ref()
                .is_none_or(|p| m.provider.as_deref() == Some(p.as_str()))
            && self.message_type.is_none_or(|t| t == m.message_type)
            && self.to.as_ref().is_none_or(|to| *to == m.to)
            && self.created_from.is_none_or(|from| m.created_at >= from)
            && self.created_to.is_none_or(|to| m.created_at < to)
            && self
                .error_kind
                .is_none_or(|k| m.error.as_ref().is_some_and(|e| e.kind == k))
            && self
                .sent_by
                .as_ref()
                .is_none_or(|name| m.sent_by.as_deref() == Some(name.as_str()))
    }
}

/// Newest first; `after` is the id of the last message of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub first: usize,
    pub after: Option<MessageId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

/// The idempotency key as stored: the caller's key within the sending token's name, so two
/// tokens never share a key space (one token cannot read or block another's requests by
/// guessing its keys). The unit separator cannot appear in a token name.
pub fn scoped_key(sent_by: Option<&str>, key: &str) -> String {
    match sent_by {
        Some(name) => format!("{name}\u{1f}{key}"),
        None => key.to_owned(),
    }
}
