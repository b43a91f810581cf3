//! Engine tests over in-memory fakes of the store and providers: one binary, a module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod alerts;
mod breaker;
mod credit;
mod durability;
mod failover;
mod helpers;
mod instances;
mod lanes;
mod lifecycle;
mod receipts;
mod reconcile;
mod recovery;
mod statistics;
mod supervision;
