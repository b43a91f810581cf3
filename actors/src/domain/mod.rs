//! The engine's domain: messages, their states and events, recipients, text encoding, providers,
//! who may do what, and the audit log's values.

pub mod access;
pub mod audit;
pub mod event;
pub mod ids;
pub mod message;
pub mod money;
pub mod phone;
pub mod provider;
pub mod stats;
pub mod status;
pub mod text;

pub use access::{Caller, Permission, Role};
pub use audit::{
    provider_snapshot, test_sms_snapshot, AuditAction, AuditEntryView, AuditQuery, AuditRecord,
};
pub use event::{MessageError, MessageEvent};
pub use ids::{MessageId, ProviderId};
pub use message::{scoped_key, Message, MessageFilter, MessageType, Page, PageRequest};
pub use money::Money;
pub use phone::E164;
pub use provider::{
    new_webhook_secret, secret_hint, ProviderConfig, ProviderErrorKind, ProviderKind,
    ProviderSettings,
};
pub use stats::{DailyStats, DeliveryHistogram, StatsDelta, StatsGroupBy, StatsQuery};
pub use status::MessageStatus;
pub use text::{Encoding, TextInfo};
