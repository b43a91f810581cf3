//! The smsgate engine: domain types, the ports it needs (providers, store, metrics) and the
//! ractor actor tree that accepts, routes, sends, tracks and counts messages.
//!
//! ```text
//! Supervisor
//! ├── Router                 picks a provider for each message; fails over; retries; expiry
//! ├── Provider(slug) × N     one per configured provider: its client, circuit breaker, credit
//! ├── Logger                 the only writer of messages, their events and the statistics
//! │                          they add; group commits
//! └── Alerts                 rules on changes and provider health; tells people (when started)
//! ```
//!
//! # Layout
//! - `domain`: messages, statuses and their legal transitions, E.164 numbers, SMS encoding.
//! - `ports`: the provider, store and metrics traits the engine needs from the outside.
//! - `policy`: pure decisions: circuit breaker, retry backoff, provider selection.
//! - `engine`: the `Engine` handle the API layers call; `engine::admin` administers providers.
//! - `supervisor`, `router`, `provider`, `logger`: the actors; `protocol`: the messages the
//!   Router and the provider actors exchange. Statistics need no actor: the Logger commits them
//!   with each batch and `Engine::statistics` reads them from the store.
//! - `leases`: the task that renews this instance's leases and takes over expired ones.
//! - `updates`: the bus of stored changes and the subscription stream logic.
//! - `alerts`: alert rules, the fire/repeat/resolve lifecycle and the Alerts actor.
//!
//! # Semantics
//! - Durable on accept: `Engine::send` answers only after the QUEUED message is committed.
//! - A provider is called only after SENDING is committed, so a message whose call may have
//!   reached the provider is known as such after a crash and is never blindly sent again.
//! - A message's events are committed and published in order; subscribers see only stored changes.
//! - A crashed provider actor is restarted from its stored configuration; on start, every
//!   unfinished message is picked up again.
//! - Several instances on one store: a message is dispatched by the one instance holding its
//!   lease (see `ports::lease`); when an instance dies its leases run out and another takes over.

pub mod alerts;
pub mod domain;
pub mod engine;
pub mod error;
mod leases;
pub mod logger;
pub mod policy;
pub mod ports;
pub mod protocol;
pub mod provider;
pub mod router;
pub mod supervisor;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod updates;

pub use engine::{
    AlertsSetup, Engine, EngineConfig, EngineDeps, NewProvider, ProviderCatalog, ProviderPatch,
    SendSms,
};
pub use error::EngineError;
pub use router::ProviderView;
pub use updates::UpdateFilter;
