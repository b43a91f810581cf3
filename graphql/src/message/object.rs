//! The `Message` type and what hangs off it (its error, events, pages), read as the caller's role
//! may: recipients masked for viewers, OTP bodies hidden from all but admins.

use super::enums::{Encoding, MessageErrorKind, MessageStatus, MessageType};
use crate::{
    context::{Caller, Role},
    scalars::DateTime,
};
use async_graphql::{Context, Object, SimpleObject, ID};
use smsgate_actors::domain;
use std::sync::Arc;

/// An SMS: what was asked, where it is now, and how it got there.
#[derive(Clone)]
pub struct Message(pub Arc<domain::Message>);

#[Object]
impl Message {
    /// smsgate's id of the message (`msg_…`).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The recipient, in E.164 (`+40755123456`); masked for viewers (`+40755***456`).
    async fn to(&self, ctx: &Context<'_>) -> String {
        if is_viewer(ctx) {
            self.0.to.masked()
        } else {
            self.0.to.as_str().to_owned()
        }
    }

    /// The text as sent (Unicode NFC). Only admins read an OTP's text: everyone else, the
    /// service that sent it included, reads `[OTP hidden]`.
    async fn body(&self, ctx: &Context<'_>) -> String {
        if !is_admin(ctx) && self.0.message_type == domain::MessageType::Otp {
            HIDDEN_OTP.to_owned()
        } else {
            self.0.body.clone()
        }
    }

    #[graphql(name = "type")]
    async fn message_type(&self) -> MessageType {
        self.0.message_type.into()
    }

    /// The sender ID asked for, if any.
    async fn sender(&self) -> Option<&str> {
        self.0.sender.as_deref()
    }

    async fn status(&self) -> MessageStatus {
        self.0.status.into()
    }

    /// The slug of the provider of the latest attempt; null until one was chosen.
    async fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }

    /// The provider's own id of the message, once it accepted it.
    async fn provider_message_id(&self) -> Option<&str> {
        self.0.provider_message_id.as_deref()
    }

    async fn encoding(&self) -> Encoding {
        self.0.encoding.into()
    }

    /// SMS parts the body needs (each billed).
    async fn segments(&self) -> u32 {
        self.0.segments
    }

    /// What the provider charged, in eurocents (fractions possible); null until known.
    async fn cost(&self) -> Option<f64> {
        self.0.cost.map(|c| c.cents())
    }

    /// Provider attempts so far.
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The latest error, if the message is not where it should be.
    async fn error(&self, ctx: &Context<'_>) -> Option<MessageError> {
        let viewer = is_viewer(ctx);
        self.0
            .error
            .as_ref()
            .map(|e| self.masked_error(MessageError::from(e), viewer))
    }

    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the provider accepted it.
    async fn sent_at(&self) -> Option<DateTime> {
        self.0.sent_at.map(DateTime)
    }

    /// When the delivery receipt said it arrived.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(DateTime)
    }

    /// After this time a message not yet sent is EXPIRED instead.
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }

    /// Every status change, oldest first.
    #[graphql(complexity = "crate::limits::EVENTS_PER_MESSAGE * child_complexity + 1")]
    async fn events(&self, ctx: &Context<'_>) -> Vec<MessageEvent> {
        let viewer = is_viewer(ctx);
        self.0
            .events
            .iter()
            .map(MessageEvent::from)
            .map(|mut e| {
                e.error = e.error.map(|err| self.masked_error(err, viewer));
                e
            })
            .collect()
    }
}

/// What a viewer reads instead of an OTP's body.
pub const HIDDEN_OTP: &str = "[OTP hidden]";

/// Viewers read messages with the recipient masked and OTP codes hidden.
fn is_viewer(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Caller>()
        .is_some_and(|c| c.role == Role::Viewer)
}

fn is_admin(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Caller>()
        .is_some_and(|c| c.role == Role::Admin)
}

impl Message {
    /// An error text may quote the recipient (a provider's "invalid number +40..."): masked too.
    fn masked_error(&self, mut error: MessageError, viewer: bool) -> MessageError {
        if viewer {
            error.message = self.0.to.mask_in(&error.message);
        }
        error
    }
}

/// An error recorded on a message. `message` is written for people and never carries secrets.
#[derive(SimpleObject, Clone)]
pub struct MessageError {
    pub kind: MessageErrorKind,
    pub message: String,
}

impl From<&domain::MessageError> for MessageError {
    fn from(e: &domain::MessageError) -> Self {
        Self {
            kind: e.kind.into(),
            message: e.message.clone(),
        }
    }
}

/// One status change of a message.
#[derive(SimpleObject, Clone)]
pub struct MessageEvent {
    pub status: MessageStatus,
    pub at: DateTime,
    /// The provider involved, if any.
    pub provider: Option<String>,
    pub error: Option<MessageError>,
}

impl From<&domain::MessageEvent> for MessageEvent {
    fn from(e: &domain::MessageEvent) -> Self {
        Self {
            status: e.status.into(),
            at: e.at.into(),
            provider: e.provider.clone(),
            error: e.error.as_ref().map(MessageError::from),
        }
    }
}

/// A page of messages, newest first.
#[derive(SimpleObject)]
pub struct MessageConnection {
    pub edges: Vec<MessageEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct MessageEdge {
    /// Pass as `after` to get the messages older than this one.
    pub cursor: String,
    pub node: Message,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    /// More messages match after this page.
    pub has_next_page: bool,
    /// The cursor of the page's last edge; null for an empty page.
    pub end_cursor: Option<String>,
}

/// The result of `sendSms`.
#[derive(SimpleObject)]
pub struct SendSmsPayload {
    /// The stored message: QUEUED, or wherever it is if the idempotency key was used before.
    pub message: Message,
}
