//! Messages in the API: `sendSms`, `message`, `messages` (a relay-style connection) and the
//! `messageUpdates` subscription, and who may read which message.
//!
//! - `enums`: `MessageStatus`, `MessageType`, `Encoding`, `MessageErrorKind`.
//! - `object`: the `Message` type, its error and events, the page types.
//! - `input`: `SendSmsInput` and the message filters.

mod enums;
mod input;
mod object;

pub use enums::{Encoding, MessageErrorKind, MessageStatus, MessageType};
pub use input::{MessageFilter, MessageUpdatesFilter, SendSmsInput};
pub use object::{
    Message, MessageConnection, MessageEdge, MessageError, MessageEvent, PageInfo, SendSmsPayload,
    HIDDEN_OTP,
};

use crate::{
    context::{engine, Caller, Permission, Role, RoleGuard},
    error::{ApiError, IntoGraphql},
    scalars::{decode_cursor, encode_cursor},
};
use async_graphql::{Context, Object, Subscription, ID};
use futures::{Stream, StreamExt};
use smsgate_actors::{
    domain::{self, PageRequest},
    SendSms,
};
use std::sync::Arc;

/// Page size when `first` is not given.
const DEFAULT_PAGE: i32 = 20;
/// Largest page: bounds the work one request can ask for.
const MAX_PAGE: i32 = 100;

/// Narrows what the caller may list to what its role may read: a service token reads only the
/// messages it sent; a viewer, who sees numbers masked, may not find who received a message by
/// filtering on a full number.
fn confine(ctx: &Context<'_>, filter: &mut domain::MessageFilter) -> Result<(), ApiError> {
    let Some(caller) = ctx.data_opt::<Caller>() else {
        return Ok(());
    };
    match caller.role {
        Role::Service => filter.sent_by = Some(caller.name.clone()),
        Role::Viewer if filter.to.is_some() => {
            return Err(ApiError::Forbidden {
                action: "filter messages by recipient",
            })
        }
        Role::Viewer | Role::Admin => {}
    }
    Ok(())
}

/// Whether the caller may read this one message; one it may not is NOT_FOUND, as if unknown.
fn may_read(ctx: &Context<'_>, message: &domain::Message) -> bool {
    ctx.data_opt::<Caller>().is_some_and(|caller| {
        caller.role != Role::Service || message.sent_by.as_deref() == Some(caller.name.as_str())
    })
}

/// The name of the calling token, recorded on what it sends.
fn caller_name(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<Caller>().map(|caller| caller.name.clone())
}

#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// One message with its events. An unknown id is a NOT_FOUND error.
    #[graphql(guard = "RoleGuard::new(Permission::ReadMessages)")]
    async fn message(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Message>> {
        let message = engine(ctx)?.message(&id).await.gql()?;
        if !may_read(ctx, &message) {
            return Err(ApiError::NotFound {
                what: "message",
                id: id.to_string(),
            })
            .gql();
        }
        Ok(Some(Message(Arc::new(message))))
    }

    /// Messages matching `filter`, newest first, a page at a time: `first` (default 20, at most
    /// 100) messages after the cursor `after` (a previous page's `endCursor`). Pages neither
    /// skip nor repeat messages while new ones arrive.
    #[graphql(
        guard = "RoleGuard::new(Permission::ReadMessages)",
        complexity = "crate::limits::page_cost(first, DEFAULT_PAGE, child_complexity)"
    )]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageFilter>,
        #[graphql(default_with = "Some(DEFAULT_PAGE)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<MessageConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(ApiError::invalid(
                "first",
                format!("must be between 0 and {MAX_PAGE}"),
            ))
            .gql();
        }
        let after = after
            .map(|cursor| decode_cursor("after", &cursor))
            .transpose()
            .gql()?;
        let mut filter = filter.unwrap_or_default().into_domain().gql()?;
        confine(ctx, &mut filter).gql()?;
        let page = engine(ctx)?
            .messages(
                &filter,
                &PageRequest {
                    first: usize::try_from(first).unwrap_or(0),
                    after,
                },
            )
            .await
            .gql()?;
        let edges: Vec<MessageEdge> = page
            .items
            .into_iter()
            .map(|m| MessageEdge {
                cursor: encode_cursor(&m.id),
                node: Message(Arc::new(m)),
            })
            .collect();
        let end_cursor = edges.last().map(|e| e.cursor.clone());
        Ok(MessageConnection {
            edges,
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
        })
    }
}

#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Accepts one SMS. It answers once the message is stored as QUEUED; sending, retries and
    /// failover happen afterwards (follow them with `messageUpdates` or `message`). A refused
    /// request stores nothing: INVALID_INPUT names the field (`to`, `body`, `sender`, `provider`,
    /// `idempotencyKey`); NO_PROVIDER when no active provider can take it; UNAVAILABLE when it
    /// could not be stored (safe to retry).
    /// RATE_LIMITED, with `retryAfter` in seconds, when the recipient had as many messages of
    /// this type as the configured limit allows (say, 5 OTP an hour).
    #[graphql(guard = "RoleGuard::new(Permission::SendMessages)")]
    async fn send_sms(
        &self,
        ctx: &Context<'_>,
        input: SendSmsInput,
    ) -> async_graphql::Result<SendSmsPayload> {
        let message_type = input.message_type.into();
        let message = engine(ctx)?
            .send(SendSms {
                to: input.to,
                body: input.body,
                message_type,
                sender: input.sender,
                provider: input.provider,
                idempotency_key: input.idempotency_key,
                validity_secs: input.validity,
                sent_by: caller_name(ctx),
            })
            .await
            .gql()?;
        Ok(SendSmsPayload {
            message: Message(Arc::new(message)),
        })
    }
}

#[derive(Default)]
pub struct MessageSubscription;

#[Subscription]
impl MessageSubscription {
    /// Every stored status change of the messages matching `filter`, each as the whole message
    /// after the change. Changes are sent only once stored, and in order for each message.
    ///
    /// With `filter.id` the subscription follows that one message: it starts with the message as
    /// stored now, then sends each change, and completes after a final state (DELIVERED,
    /// UNDELIVERED, FAILED, EXPIRED), at once if the message is already final. An unknown id is
    /// NOT_FOUND. To see a message from its very first state, subscribe (with a `to` filter,
    /// say) before calling `sendSms`.
    ///
    /// Without an id the subscription does not end by itself. A subscriber that falls too far
    /// behind (thousands of changes) is completed rather than allowed to grow the server's
    /// memory: when a stream completes unexpectedly, subscribe again and read the current state
    /// with `message` or `messages`.
    #[graphql(guard = "RoleGuard::new(Permission::ReadMessages)")]
    async fn message_updates(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageUpdatesFilter>,
    ) -> async_graphql::Result<impl Stream<Item = Message>> {
        let mut filter = filter.unwrap_or_default().into_domain().gql()?;
        confine(ctx, &mut filter.messages).gql()?;
        let stream = engine(ctx)?.subscribe(filter).await.gql()?;
        Ok(stream.map(Message))
    }
}
