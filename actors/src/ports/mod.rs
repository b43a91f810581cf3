//! The engine's needs, as traits: providers to send through, a store to keep messages, metrics,
//! a sealer that encrypts provider credentials, a clock, where alerts are kept and sent, and
//! where admin actions are recorded.

pub mod alerts;
pub mod audit;
pub mod clock;
pub mod lease;
pub mod limits;
pub mod metrics;
pub mod provider;
pub mod secrets;
pub mod store;

pub use alerts::{AlertLog, AlertSink};
pub use audit::{AuditPort, AuditUnavailable};
pub use clock::{Clock, ManualClock, SystemClock};
pub use lease::{InstanceId, LeaseHolder, Leases};
pub use limits::{AcceptLimiter, Admission, Refusal};
pub use metrics::{EngineMetrics, NoMetrics};
pub use provider::{
    Balance, DeliveryReport, DeliveryStatus, ProviderError, ProviderErrorKind, ProviderFactory,
    ReportSink, SendLookup, SendReceipt, SendRequest, SmsProvider, StatusReport,
};
pub use secrets::{SealError, SecretSealer};
pub use store::{MessageWrite, Store, StoreError, WriteOutcome};
