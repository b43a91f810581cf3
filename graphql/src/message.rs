//! Messages in the API: `sendSms`, `message`, `messages` (a relay-style connection) and the
//! `messageUpdates` subscription, with the `Message` type and its enums.

use crate::{
    context::{engine, Caller, Permission, Role, RoleGuard},
    error::{ApiError, IntoGraphql},
    scalars::{decode_cursor, encode_cursor, DateTime},
};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use futures::{Stream, StreamExt};
use smsgate_actors::{
    domain::{self, event::ErrorKind, MessageId, PageRequest, E164},
    SendSms, UpdateFilter,
};
use std::sync::Arc;

/// Page size when `first` is not given.
const DEFAULT_PAGE: i32 = 20;
/// Largest page: bounds the work one request can ask for.
const MAX_PAGE: i32 = 100;

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

/// Where a message is in its life: `QUEUED → SENDING → SENT → DELIVERED | UNDELIVERED`, with
/// `RETRYING` in between attempts. `DELIVERED`, `UNDELIVERED`, `FAILED` and `EXPIRED` are final.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Accepted and stored; waiting for a provider.
    Queued,
    /// Handed to a provider; its answer is awaited.
    Sending,
    /// The provider accepted it; the delivery receipt is awaited.
    Sent,
    /// The handset received it.
    Delivered,
    /// The provider could not deliver it.
    Undelivered,
    /// An attempt failed with a transient error; another follows after a backoff.
    Retrying,
    /// A permanent error, or every attempt failed.
    Failed,
    /// Its validity ran out before it could be sent.
    Expired,
}

impl From<domain::MessageStatus> for MessageStatus {
    fn from(s: domain::MessageStatus) -> Self {
        use domain::MessageStatus as S;
        match s {
            S::Queued => Self::Queued,
            S::Sending => Self::Sending,
            S::Sent => Self::Sent,
            S::Delivered => Self::Delivered,
            S::Undelivered => Self::Undelivered,
            S::Retrying => Self::Retrying,
            S::Failed => Self::Failed,
            S::Expired => Self::Expired,
        }
    }
}

impl From<MessageStatus> for domain::MessageStatus {
    fn from(s: MessageStatus) -> Self {
        match s {
            MessageStatus::Queued => Self::Queued,
            MessageStatus::Sending => Self::Sending,
            MessageStatus::Sent => Self::Sent,
            MessageStatus::Delivered => Self::Delivered,
            MessageStatus::Undelivered => Self::Undelivered,
            MessageStatus::Retrying => Self::Retrying,
            MessageStatus::Failed => Self::Failed,
            MessageStatus::Expired => Self::Expired,
        }
    }
}

/// What a message is for. OTPs go first and are valid for 5 minutes, transactional messages for
/// 24 hours, marketing for 72 hours.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageType {
    Otp,
    #[default]
    Transactional,
    Marketing,
}

impl From<domain::MessageType> for MessageType {
    fn from(t: domain::MessageType) -> Self {
        match t {
            domain::MessageType::Otp => Self::Otp,
            domain::MessageType::Transactional => Self::Transactional,
            domain::MessageType::Marketing => Self::Marketing,
        }
    }
}

impl From<MessageType> for domain::MessageType {
    fn from(t: MessageType) -> Self {
        match t {
            MessageType::Otp => Self::Otp,
            MessageType::Transactional => Self::Transactional,
            MessageType::Marketing => Self::Marketing,
        }
    }
}

/// How the body is encoded on the air: GSM-7 (160 characters per SMS) or, as soon as one
/// character is outside GSM-7 (such as `ă` or `ș`), UCS-2 (70 per SMS).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    #[graphql(name = "GSM7")]
    Gsm7,
    #[graphql(name = "UCS2")]
    Ucs2,
}

impl From<domain::Encoding> for Encoding {
    fn from(e: domain::Encoding) -> Self {
        match e {
            domain::Encoding::Gsm7 => Self::Gsm7,
            domain::Encoding::Ucs2 => Self::Ucs2,
        }
    }
}

/// Why a message is not (yet) where it should be.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageErrorKind {
    /// The provider refused our credentials; an admin was alerted and others are tried.
    InvalidCredentials,
    /// The provider is out of credit; others are tried.
    InsufficientCredit,
    RateLimited,
    Timeout,
    /// The provider answered with a server error or could not be reached.
    ProviderUnavailable,
    /// The number cannot receive SMS; not retried.
    InvalidRecipient,
    /// The provider refused the content; not retried.
    InvalidContent,
    /// The provider refused the message for another reason.
    Rejected,
    /// No provider could take the message.
    NoProvider,
    /// smsgate stopped while a provider call was in flight: it may or may not have gone out.
    Interrupted,
    /// Its validity ran out before it was sent.
    Expired,
}

impl From<ErrorKind> for MessageErrorKind {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::InvalidCredentials => Self::InvalidCredentials,
            ErrorKind::InsufficientCredit => Self::InsufficientCredit,
            ErrorKind::RateLimited => Self::RateLimited,
            ErrorKind::Timeout => Self::Timeout,
            ErrorKind::ProviderUnavailable => Self::ProviderUnavailable,
            ErrorKind::InvalidRecipient => Self::InvalidRecipient,
            ErrorKind::InvalidContent => Self::InvalidContent,
            ErrorKind::Rejected => Self::Rejected,
            ErrorKind::NoProvider => Self::NoProvider,
            ErrorKind::Interrupted => Self::Interrupted,
            ErrorKind::Expired => Self::Expired,
        }
    }
}

impl From<MessageErrorKind> for ErrorKind {
    fn from(k: MessageErrorKind) -> Self {
        match k {
            MessageErrorKind::InvalidCredentials => Self::InvalidCredentials,
            MessageErrorKind::InsufficientCredit => Self::InsufficientCredit,
            MessageErrorKind::RateLimited => Self::RateLimited,
            MessageErrorKind::Timeout => Self::Timeout,
            MessageErrorKind::ProviderUnavailable => Self::ProviderUnavailable,
            MessageErrorKind::InvalidRecipient => Self::InvalidRecipient,
            MessageErrorKind::InvalidContent => Self::InvalidContent,
            MessageErrorKind::Rejected => Self::Rejected,
            MessageErrorKind::NoProvider => Self::NoProvider,
            MessageErrorKind::Interrupted => Self::Interrupted,
            MessageErrorKind::Expired => Self::Expired,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output types
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

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
    fn into_domain(self) -> Result<domain::MessageFilter, ApiError> {
        domain_filter(
            self.status,
            self.provider,
            self.message_type,
            self.to,
            self.created_from,
            self.created_to,
            self.error_kind,
        )
    }
}

impl MessageUpdatesFilter {
    fn into_domain(self) -> Result<UpdateFilter, ApiError> {
        let message_id = match self.id {
            None => None,
            Some(id) => Some(MessageId::parse(&id).ok_or_else(|| ApiError::NotFound {
                what: "message",
                id: id.to_string(),
            })?),
        };
        let messages = domain_filter(
            self.status,
            self.provider,
            self.message_type,
            self.to,
            self.created_from,
            self.created_to,
            self.error_kind,
        )?;
        Ok(UpdateFilter {
            message_id,
            messages,
        })
    }
}

fn domain_filter(
    status: Option<MessageStatus>,
    provider: Option<String>,
    message_type: Option<MessageType>,
    to: Option<String>,
    created_from: Option<DateTime>,
    created_to: Option<DateTime>,
    error_kind: Option<MessageErrorKind>,
) -> Result<domain::MessageFilter, ApiError> {
    let to = match to {
        None => None,
        Some(raw) => {
            Some(E164::parse(&raw).map_err(|e| ApiError::invalid("to", format!("{e}: {raw:?}")))?)
        }
    };
    if let (Some(from), Some(until)) = (created_from, created_to) {
        if from > until {
            return Err(ApiError::invalid(
                "createdFrom",
                "must not be after createdTo",
            ));
        }
    }
    Ok(domain::MessageFilter {
        status: status.map(Into::into),
        provider: provider
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
        message_type: message_type.map(Into::into),
        to,
        created_from: created_from.map(|t| t.0),
        created_to: created_to.map(|t| t.0),
        error_kind: error_kind.map(Into::into),
        sent_by: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Roots
// ---------------------------------------------------------------------------------------------

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
