//! The message enums as the API names and describes them. Each mirrors a domain enum variant for
//! variant (`remote` derives both conversions, so a variant added to one side only does not
//! compile); the descriptions live here because they are written for API clients.

use async_graphql::Enum;

/// Where a message is in its life: `QUEUED → SENDING → SENT → DELIVERED | UNDELIVERED`, with
/// `RETRYING` in between attempts. `DELIVERED`, `UNDELIVERED`, `FAILED` and `EXPIRED` are final.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::domain::MessageStatus")]
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

/// What a message is for. OTPs go first and are valid for 5 minutes, transactional messages for
/// 24 hours, marketing for 72 hours.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "smsgate_actors::domain::MessageType")]
pub enum MessageType {
    Otp,
    #[default]
    Transactional,
    Marketing,
}

/// How the body is encoded on the air: GSM-7 (160 characters per SMS) or, as soon as one
/// character is outside GSM-7 (such as `ă` or `ș`), UCS-2 (70 per SMS).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::domain::Encoding")]
pub enum Encoding {
    #[graphql(name = "GSM7")]
    Gsm7,
    #[graphql(name = "UCS2")]
    Ucs2,
}

/// Why a message is not (yet) where it should be.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::domain::event::ErrorKind")]
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
