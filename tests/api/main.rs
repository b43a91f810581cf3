//! End-to-end tests: the real server on ephemeral ports with a temporary data dir, driven over
//! HTTP and WebSocket as a client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bad_input;
mod fakes;
mod health;
mod helpers;
mod idempotency;
mod messages;
mod providers_smso;
mod providers_twilio;
mod rest;
mod restart;
mod secrets;
mod send_sms;
mod subscription;
