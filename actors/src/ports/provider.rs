//! The provider port: send, check a status, read the balance; outcomes normalised into kinds.

use crate::domain::{
    ids::MessageId, message::MessageType, money::Money, phone::E164, provider::ProviderConfig,
    text::Encoding, MessageError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::{sync::Arc, time::Duration};

/// The kinds live in the domain (a message's error records one); providers answer with them.
pub use crate::domain::provider::ProviderErrorKind;

/// A normalised provider failure. `message` is safe to show: adapters never put a secret in it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub message: String,
    pub retry_after: Option<Duration>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn to_message_error(&self) -> MessageError {
        MessageError {
            kind: self.kind.into(),
            message: self.message.clone(),
        }
    }
}

/// One message, ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub message_id: MessageId,
    pub to: E164,
    pub body: String,
    pub sender: Option<String>,
    pub encoding: Encoding,
    pub segments: u32,
    pub message_type: MessageType,
    /// What is left of a validity set for this message, for providers whose API takes one
    /// (Twilio `ValidityPeriod`, Vonage `ttl`); `None` when the type's default applies.
    pub validity: Option<Duration>,
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq)]
pub struct SendReceipt {
    pub provider_message_id: String,
    /// What the provider billed, when it says; providers are the billing truth.
    pub cost: Option<Money>,
    pub segments: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Still on its way (accepted, queued or sent by the provider).
    Pending,
    Delivered,
    Undelivered,
    /// The provider gave up before handing it on.
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub status: DeliveryStatus,
    pub at: Option<DateTime<Utc>>,
    pub error: Option<MessageError>,
    pub cost: Option<Money>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Balance {
    /// `None` when the provider has no credit limit to speak of.
    pub credit: Option<Money>,
}

/// A delivery receipt, pushed by a provider (webhook, or the mock's own timer).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub provider: String,
    pub provider_message_id: String,
    /// Set when the provider echoes our id back, which saves a lookup.
    pub message_id: Option<MessageId>,
    pub status: DeliveryStatus,
    pub at: DateTime<Utc>,
    pub error: Option<MessageError>,
}

/// What a provider's records say of a send whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
pub enum SendLookup {
    /// It reached the provider: this is the receipt its answer would have carried.
    Found(SendReceipt),
    /// The provider has no such message: it never arrived, and sending it again is safe.
    NotFound,
}

#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError>;
    async fn status(&self, provider_message_id: &str) -> Result<StatusReport, ProviderError>;
    /// Whether `status` can answer at all. An API without a status endpoint (Vonage's SMS API,
    /// a generic HTTP API) says no, so its messages are never polled, whatever the settings
    /// ask: polling it would only fail, once per interval, for as long as each message is valid.
    fn can_poll_status(&self) -> bool {
        true
    }
    async fn balance(&self) -> Result<Balance, ProviderError>;
    /// Whether `look_up_send` can answer: the provider can list what it received, so an
    /// ambiguous send can be settled without its message id.
    fn can_look_up_sends(&self) -> bool {
        false
    }
    /// Looks for `request` among what the provider received since `since` (by recipient,
    /// sender and text). An error means it could not tell, and may be asked again.
    async fn look_up_send(
        &self,
        _request: &SendRequest,
        _since: DateTime<Utc>,
    ) -> Result<SendLookup, ProviderError> {
        Err(ProviderError::new(
            ProviderErrorKind::Unavailable,
            "this provider cannot look a send up",
        ))
    }
}

/// Where providers push delivery receipts; the engine hands one to every provider it builds.
pub type ReportSink = Arc<dyn Fn(DeliveryReport) + Send + Sync>;

/// Builds the concrete client for a stored provider configuration (the adapters live in `src`).
pub trait ProviderFactory: Send + Sync + 'static {
    fn build(
        &self,
        config: &ProviderConfig,
        reports: ReportSink,
    ) -> Result<Arc<dyn SmsProvider>, ProviderError>;

    /// Checks a configuration before it is stored, the way `build` will read it (settings,
    /// URLs), so that what `build` would refuse is refused to the admin, naming the field,
    /// instead of leaving a provider shown active that cannot start.
    fn check(&self, _config: &ProviderConfig) -> Result<(), crate::error::EngineError> {
        Ok(())
    }
}
