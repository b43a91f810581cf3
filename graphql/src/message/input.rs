//! What clients send: one SMS (`SendSmsInput`) and the filters of `messages` and
//! `messageUpdates`, checked and turned into the engine's shapes.

use super::enums::{MessageErrorKind, MessageStatus, MessageType};
use crate::{error::ApiError, scalars::DateTime};
use async_graphql::{InputObject, ID};
use smsgate_actors::{
    domain::{self, MessageId, E164},
    UpdateFilter,
};

/// One SMS to send.
#[derive(InputObject)]
pub struct SendSmsInput {
    /// The recipient: E.164 (`+40755123456`) or a Romanian national number (`0755123456`).
    pub to: String,
    /// The text; at most 10 SMS parts (1530 GSM-7 or 670 UCS-2 characters).
    pub body: String,
    #[graphql(name = "type", default)]
    pub message_type: MessageType,
    /// Sender ID: up to 15 letters, digits or spaces. The provider's default when omitted.
    pub sender: Option<String>,
    /// A provider slug: send only through this provider, never fail over.
    pub provider: Option<String>,
    /// Retrying with the same key and the same request returns the first message and sends
    /// nothing new; the same key with a different request is a CONFLICT. 1 to 128 characters.
    pub idempotency_key: Option<String>,
    /// Seconds the message may wait to be sent (30 to 259200, i.e. 72 hours); past it the
    /// message is EXPIRED, never sent late. The type's default when omitted (OTP 5 minutes,
    /// transactional 24 hours, marketing 72 hours).
    pub validity: Option<u32>,
}

/// Which messages to list; every field given narrows the result.
#[derive(InputObject, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    /// A provider slug.
    pub provider: Option<String>,
    #[graphql(name = "type")]
    pub message_type: Option<MessageType>,
    /// A recipient, written any way `sendSms` accepts.
    pub to: Option<String>,
    /// Created at or after this time.
    pub created_from: Option<DateTime>,
    /// Created before this time.
    pub created_to: Option<DateTime>,
    /// The kind of the message's current error.
    pub error_kind: Option<MessageErrorKind>,
}

/// Which message changes to receive: `id` follows one message; the other fields narrow as in
/// `MessageFilter`.
#[derive(InputObject, Default)]
pub struct MessageUpdatesFilter {
    /// Follow this one message: its stored state first, then each change, ending after a final
    /// state.
    pub id: Option<ID>,
    pub status: Option<MessageStatus>,
    pub provider: Option<String>,
    #[graphql(name = "type")]
    pub message_type: Option<MessageType>,
    pub to: Option<String>,
    pub created_from: Option<DateTime>,
    pub created_to: Option<DateTime>,
    /// The kind of the message's current error, as in `messages`: a change is sent when the
    /// message after it carries an error of this kind (a RETRYING or FAILED one, say).
    pub error_kind: Option<MessageErrorKind>,
}

impl MessageFilter {
    /// The engine's filter; `to` is parsed as `sendSms` parses it and the time range checked.
    pub(super) fn into_domain(self) -> Result<domain::MessageFilter, ApiError> {
        let to = match self.to {
            None => None,
            Some(raw) => Some(
                E164::parse(&raw).map_err(|e| ApiError::invalid("to", format!("{e}: {raw:?}")))?,
            ),
        };
        if let (Some(from), Some(until)) = (self.created_from, self.created_to) {
            if from > until {
                return Err(ApiError::invalid(
                    "createdFrom",
                    "must not be after createdTo",
                ));
            }
        }
        Ok(domain::MessageFilter {
            status: self.status.map(Into::into),
            provider: self
                .provider
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
            message_type: self.message_type.map(Into::into),
            to,
            created_from: self.created_from.map(|t| t.0),
            created_to: self.created_to.map(|t| t.0),
            error_kind: self.error_kind.map(Into::into),
            sent_by: None,
        })
    }
}

impl MessageUpdatesFilter {
    /// The message to follow, and the rest as the `MessageFilter` it is: both roots narrow by
    /// the same rules. (Two GraphQL input types only because their fields are described apart.)
    fn split(self) -> (Option<ID>, MessageFilter) {
        let Self {
            id,
            status,
            provider,
            message_type,
            to,
            created_from,
            created_to,
            error_kind,
        } = self;
        let messages = MessageFilter {
            status,
            provider,
            message_type,
            to,
            created_from,
            created_to,
            error_kind,
        };
        (id, messages)
    }

    pub(super) fn into_domain(self) -> Result<UpdateFilter, ApiError> {
        let (id, messages) = self.split();
        let message_id = match id {
            None => None,
            Some(id) => Some(MessageId::parse(&id).ok_or_else(|| ApiError::NotFound {
                what: "message",
                id: id.to_string(),
            })?),
        };
        Ok(UpdateFilter {
            message_id,
            messages: messages.into_domain()?,
        })
    }
}
