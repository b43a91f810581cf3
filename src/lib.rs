//! smsgate: a self-hosted SMS gateway. This crate holds the adapters around the engine
//! (`smsgate-actors`) and the composition root; its modules are public so that `tests/` can
//! build the whole application.
//!
//! # Layout
//!
//! - `access`: named API tokens (digests only) and the `AccessStore` they are kept in.
//! - `alerts`: the alert webhook sink (signed, retried) and the alert setup for the engine.
//! - `audit`: the hash-chained audit log of admin actions, the `AuditStore` it is kept in, and
//!   its verification.
//! - `cli`: the command line (`smsgate serve`, `smsgate config check`).
//! - `commands`: offline commands on the store: `keygen`, `rotate-keys`, `providers ...`,
//!   `tokens ...`, `audit verify`, `stats rebuild`.
//! - `config`: `Settings`, layered from compiled-in defaults, `smsgate.toml` and `SMSGATE_*`.
//! - `http`: the axum side: routers, GraphQL transport, internal REST, auth, error shape, health.
//! - `metrics`: the prometheus registry behind the engine's metrics port and `/metrics`.
//! - `providers`: the provider factory and the adapters (SMSO, Twilio, Vonage, the generic HTTP
//!   provider and the mock), with the guarded outbound client they share.
//! - `rate_limit`: per-token and per-recipient token buckets.
//! - `secrets`: the Fernet keyring for provider credentials at rest (opened from settings, or a
//!   generated dev key), `SecretString`, and hints.
//! - `startup`: `Application::build` and `run_until_stopped`, the composition root.
//! - `store`: the `Store` backends (the embedded SQLite store is the default) and `open_store`,
//!   which picks one from the settings.
//! - `telemetry`: the tracing subscriber (pretty or JSON), and a quiet one for tests.

// Tests may unwrap: a panic there is a failed assertion. The non-test build still denies it.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod alerts;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod metrics;
pub mod providers;
pub mod rate_limit;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;
