//! The schema's roots, merged from the per-domain parts: each domain (messages, providers,
//! statistics) owns its fields, and adding one is a line here.

use crate::{
    alerts::{AlertQueryRoot, AlertSubscription},
    audit::AuditQueryRoot,
    message::{MessageMutation, MessageQuery, MessageSubscription},
    provider::{ProviderMutation, ProviderQuery},
    statistics::StatisticsQuery,
};
use async_graphql::{MergedObject, MergedSubscription};

#[derive(MergedObject, Default)]
pub struct Query(
    MessageQuery,
    ProviderQuery,
    StatisticsQuery,
    AuditQueryRoot,
    AlertQueryRoot,
);

#[derive(MergedObject, Default)]
pub struct Mutation(MessageMutation, ProviderMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(MessageSubscription, AlertSubscription);
