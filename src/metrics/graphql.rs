//! GraphQL requests by operation: an async-graphql extension that counts and times each
//! top-level field a request resolves (`sendSms`, `messages`, `statistics`, ...).
//!
//! Only fields that passed validation are resolved, so the label is bounded by the schema's own
//! root fields; whatever a client writes that is not one of them never becomes a label.

use super::Metrics;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::sync::Arc;
use std::time::Instant;

/// Resolvers run from memory to a store round trip; a send waits for its durable commit.
const FIELD_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub(super) struct GraphqlSeries {
    fields: IntCounterVec,
    field_seconds: HistogramVec,
}

impl GraphqlSeries {
    pub(super) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let fields = IntCounterVec::new(
            Opts::new(
                "smsgate_graphql_operations_total",
                "Top-level GraphQL fields resolved, by field and outcome (ok or error).",
            ),
            &["field", "outcome"],
        )?;
        let field_seconds = HistogramVec::new(
            HistogramOpts::new(
                "smsgate_graphql_operation_seconds",
                "Time to resolve a top-level GraphQL field, by field.",
            )
            .buckets(FIELD_BUCKETS.to_vec()),
            &["field"],
        )?;
        registry.register(Box::new(fields.clone()))?;
        registry.register(Box::new(field_seconds.clone()))?;
        Ok(Self {
            fields,
            field_seconds,
        })
    }
}

impl Metrics {
    /// One top-level GraphQL field resolved: `field` is its schema name (never an alias).
    pub fn graphql_field(&self, field: &str, ok: bool, elapsed: std::time::Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.graphql
            .fields
            .with_label_values(&[field, outcome])
            .inc();
        self.graphql
            .field_seconds
            .with_label_values(&[field])
            .observe(elapsed.as_secs_f64());
    }
}

/// Add to the schema with `.extension(GraphqlOperations::new(metrics))`.
pub struct GraphqlOperations {
    /// One timer for every request: it keeps no per-request state, so none is allocated.
    timer: Arc<OperationTimer>,
}

impl GraphqlOperations {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            timer: Arc::new(OperationTimer { metrics }),
        }
    }
}

impl ExtensionFactory for GraphqlOperations {
    fn create(&self) -> Arc<dyn Extension> {
        self.timer.clone()
    }
}

struct OperationTimer {
    metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl Extension for OperationTimer {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        // Borrowed from the request's document, which outlives the call: no copy per request.
        let field = info.name;
        let started = Instant::now();
        let result = next.run(ctx, info).await;
        self.metrics
            .graphql_field(field, result.is_ok(), started.elapsed());
        result
    }
}
