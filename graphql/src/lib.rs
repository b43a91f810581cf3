//! The smsgate GraphQL API: an async-graphql schema over the engine's [`Engine`] handle. It knows
//! nothing of HTTP: the server puts a [`Caller`] into each request's (or WebSocket connection's)
//! data and runs the schema this crate builds.
//!
//! # Layout
//! - `schema`: the `Query`, `Mutation` and `Subscription` roots, merged from the parts below.
//! - `message`: `sendSms`, `message`, `messages`, `messageUpdates` and the `Message` type.
//! - `provider`: `providers`, `provider` and the `Provider` type (never its credentials).
//! - `statistics`: `statistics`, per provider per day.
//! - `alerts`: the `alerts` subscription and `alertHistory` (admins only).
//! - `context`: the role guard over the engine's `Caller`, the WebSocket init helper.
//! - `audit`: recording admin actions, and `auditLog`.
//! - `error`: `ApiError`, the `extensions.code` contract, and the extension that gives every
//!   error a code.
//! - `limits`: depth, cost (pages cost their size) and root fields per operation.
//! - `parse_cache`: parsed queries kept by their text, so a repeated query is parsed once.
//! - `scalars`: `DateTime`, `Date` and the pagination cursor.

pub mod alerts;
pub mod audit;
pub mod context;
pub mod error;
pub mod limits;
pub mod message;
pub mod parse_cache;
pub mod provider;
pub mod scalars;
pub mod schema;
pub mod statistics;

pub use context::{caller_from_init, init_token, RoleGuard};
pub use error::{ApiError, ErrorCodes, CODES};
pub use limits::{RootFieldLimits, MAX_COMPLEXITY, MAX_DEPTH};
pub use parse_cache::ParseCache;
pub use schema::{Mutation, Query, Subscription};

use async_graphql::{Schema, SchemaBuilder};
use smsgate_actors::Engine;

pub type SmsSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits, error codes and the engine, for a server that wants to add its
/// own extensions or data before `finish()`.
pub fn schema_builder(engine: Engine) -> SchemaBuilder<Query, Mutation, Subscription> {
    schema_builder_with(engine, RootFieldLimits::default())
}

/// As [`schema_builder`], with the configured number of root fields an operation may hold.
pub fn schema_builder_with(
    engine: Engine,
    root_fields: RootFieldLimits,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(engine)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(ErrorCodes)
    // Before the parse cache, which answers a repeated text without calling the extensions
    // after it: every request is counted.
    .extension(root_fields)
    .extension(ParseCache::default())
}

/// The schema, ready to execute. Introspection stays on: GraphiQL needs it and the schema is
/// no secret.
pub fn build_schema(engine: Engine) -> SmsSchema {
    schema_builder(engine).finish()
}
