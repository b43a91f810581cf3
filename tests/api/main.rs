//! End-to-end tests: the real server on ephemeral ports with a temporary data dir, driven over
//! HTTP and WebSocket as a client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_rest;
mod alerts;
mod alerts_rest;
mod audit;
mod auth;
mod bad_input;
mod fakes;
mod faults;
mod health;
mod helpers;
mod idempotency;
mod keys;
mod logs_viewer;
mod messages;
mod metrics_scrape;
mod mongo;
mod polling;
mod provider_errors;
mod provider_setup;
mod providers_generic;
mod providers_smso;
mod providers_twilio;
mod providers_vonage;
mod rate_limits;
mod rest;
mod restart;
mod roles;
mod secrets;
mod send_sms;
mod stats_rebuild;
mod subscription;
mod validity;
mod webhooks_receipts;
mod webhooks_smso;
