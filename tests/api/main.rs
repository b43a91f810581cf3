//! End-to-end tests: the real server on ephemeral ports with a temporary data dir, driven over
//! HTTP and WebSocket as a client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bad_input;
mod health;
mod helpers;
mod messages;
mod mongo;
mod rest;
mod restart;
mod send_sms;
mod subscription;
