//! In-process tests of the GraphQL API over an `Engine` built on the engine's test fakes: queries
//! and mutations through `Schema::execute`, subscriptions through `Schema::execute_stream`, and
//! the graphql-transport-ws protocol through `async_graphql::http::WebSocket`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod admin;
mod alerts;
mod auth;
mod contract;
mod errors;
mod limits;
mod messages;
mod providers;
mod send;
mod statistics;
mod subscriptions;
mod viewer;
mod websocket;
