//! smsgate: a self-hosted SMS gateway. This crate holds the adapters around the engine
//! (`smsgate-actors`) and the composition root; its modules are public so that `tests/` can
//! build the whole application.
//!
//! # Layout
//!
//! - `access`: named API tokens (digests only) and the `AccessStore` they are kept in.
//! - `alerts`: the alert webhook sink (signed, retried) and the alert setup for the engine.
//! - `audit`: the hash-chained audit log of admin actions, and its verification.
//! - `cli`: the command line (`smsgate serve`, `smsgate config check`).
//! - `commands`: offline commands on the store: `keygen`, `rotate-keys`, `providers ...`.
//! - `config`: `Settings`, layered from compiled-in defaults, `smsgate.toml` and `SMSGATE_*`.
//! - `http`: the axum side: routers, GraphQL transport, internal REST, auth, error shape, health.
//! - `metrics`: the prometheus registry behind the engine's metrics port and `/metrics`.
//! - `providers`: the provider factory and the concrete adapters (the mock, for now).
//! - `rate_limit`: per-token and per-recipient token buckets.
//! - `secrets`: the Fernet keyring for provider credentials at rest, and hints.
//! - `startup`: `Application::build` and `run_until_stopped`, the composition root.
//! - `store`: the `Store` backends; the embedded SQLite store is the default.
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
