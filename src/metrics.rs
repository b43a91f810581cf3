//! Prometheus metrics: our own registry, the series the engine reports through its metrics port,
//! the HTTP series, and the text served on `/metrics`.
//!
//! Every label value comes from a bounded set: provider slugs (configured by an admin), message
//! types, statuses, error kinds, route templates. Never a phone number, a message id or a raw
//! path, which would grow the series without bound.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use smsgate_actors::{
    domain::{MessageStatus, MessageType},
    ports::EngineMetrics,
};
use std::time::Duration;

mod alerts;
mod graphql;
pub use alerts::{AlertSeries, WEBHOOK_OUTCOMES};
pub use graphql::GraphqlOperations;

/// Provider calls run from a few milliseconds to a timeout of tens of seconds.
const PROVIDER_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// HTTP handlers answer from the engine's memory or the store, so mostly well under a second.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Time to delivery runs from about a second to the hours a receipt may take.
const DELIVERY_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
];

/// The provider label of a status change that happened before any provider was chosen.
pub const NO_PROVIDER_LABEL: &str = "none";

/// Owns a registry of its own rather than prometheus's global default, so two applications in
/// one test process never share (or double-register) series.
pub struct Metrics {
    registry: Registry,
    messages: IntCounterVec,
    provider_request_seconds: HistogramVec,
    provider_errors: IntCounterVec,
    queue_depth: IntGaugeVec,
    provider_in_flight: IntGaugeVec,
    provider_circuit_state: IntGaugeVec,
    provider_credit_cents: GaugeVec,
    http_requests: IntCounterVec,
    http_request_seconds: HistogramVec,
    messages_finished: IntCounterVec,
    provider_attempts: IntCounterVec,
    delivery_seconds: HistogramVec,
    graphql: graphql::GraphqlSeries,
}

impl Metrics {
    /// Registers every series. Fails only if two of ours shared a name, which a test catches.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let messages = IntCounterVec::new(
            Opts::new(
                "smsgate_messages_total",
                "Message status changes, by provider, message type and new status.",
            ),
            &["provider", "type", "status"],
        )?;
        let provider_request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "smsgate_provider_request_seconds",
                "Duration of provider calls, by provider and operation (send, status, balance).",
            )
            .buckets(PROVIDER_BUCKETS.to_vec()),
            &["provider", "operation"],
        )?;
        let provider_errors = IntCounterVec::new(
            Opts::new(
                "smsgate_provider_errors_total",
                "Failed provider calls, by provider and normalised error kind.",
            ),
            &["provider", "kind"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "smsgate_queue_depth",
                "Messages waiting for a provider slot, by lane (message type).",
            ),
            &["lane"],
        )?;
        let provider_in_flight = IntGaugeVec::new(
            Opts::new(
                "smsgate_provider_in_flight",
                "Provider calls in flight, by provider.",
            ),
            &["provider"],
        )?;
        let provider_circuit_state = IntGaugeVec::new(
            Opts::new(
                "smsgate_provider_circuit_state",
                "Circuit breaker state by provider: 0 closed, 1 half-open, 2 open.",
            ),
            &["provider"],
        )?;
        let provider_credit_cents = GaugeVec::new(
            Opts::new(
                "smsgate_provider_credit_cents",
                "Remaining provider credit in eurocents, by provider.",
            ),
            &["provider"],
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "smsgate_http_requests_total",
                "HTTP requests answered, by route template and status code.",
            ),
            &["route", "status"],
        )?;
        let http_request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "smsgate_http_request_seconds",
                "Duration of HTTP requests, by route template.",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            &["route"],
        )?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(provider_request_seconds.clone()))?;
        registry.register(Box::new(provider_errors.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(provider_in_flight.clone()))?;
        registry.register(Box::new(provider_circuit_state.clone()))?;
        registry.register(Box::new(provider_credit_cents.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_request_seconds.clone()))?;
        let messages_finished = IntCounterVec::new(
            Opts::new(
                "smsgate_messages_finished_total",
                "Messages that reached a final status, by provider, message type and that status.",
            ),
            &["provider", "type", "status"],
        )?;
        let provider_attempts = IntCounterVec::new(
            Opts::new(
                "smsgate_provider_attempts_total",
                "Send attempts handed to a provider, by provider and message type.",
            ),
            &["provider", "type"],
        )?;
        let delivery_seconds = HistogramVec::new(
            HistogramOpts::new(
                "smsgate_delivery_seconds",
                "Time from SENT to DELIVERED, by provider and message type.",
            )
            .buckets(DELIVERY_BUCKETS.to_vec()),
            &["provider", "type"],
        )?;
        registry.register(Box::new(messages_finished.clone()))?;
        registry.register(Box::new(provider_attempts.clone()))?;
        registry.register(Box::new(delivery_seconds.clone()))?;
        let graphql = graphql::GraphqlSeries::register(&registry)?;
        Ok(Self {
            messages_finished,
            provider_attempts,
            delivery_seconds,
            graphql,
            registry,
            messages,
            provider_request_seconds,
            provider_errors,
            queue_depth,
            provider_in_flight,
            provider_circuit_state,
            provider_credit_cents,
            http_requests,
            http_request_seconds,
        })
    }

    /// For adapters that want to register series of their own next to ours.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One answered HTTP request. `route` must be the matched route template
    /// (`/internal/sms/status/{token}`), never the request path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.http_request_seconds
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Drops a deleted provider's series, so a dashboard stops showing it.
    pub fn forget_provider(&self, provider: &str) {
        for gauge in [&self.provider_in_flight, &self.provider_circuit_state] {
            // Err only means the series never existed, which is the outcome we want.
            let _ = gauge.remove_label_values(&[provider]);
        }
        let _ = self.provider_credit_cents.remove_label_values(&[provider]);
    }

    /// Everything in the registry, in the prometheus text format.
    pub fn render(&self) -> String {
        match TextEncoder::new().encode_to_string(&self.registry.gather()) {
            Ok(text) => text,
            Err(error) => {
                // Only a malformed family fails to encode; an empty scrape is better than none.
                tracing::error!(error.message = %error, "cannot encode the metrics");
                String::new()
            }
        }
    }
}

impl EngineMetrics for Metrics {
    fn message_status(
        &self,
        provider: Option<&str>,
        message_type: MessageType,
        status: MessageStatus,
    ) {
        let provider = provider.unwrap_or(NO_PROVIDER_LABEL);
        let name = status.as_str().to_ascii_lowercase();
        let labels = [provider, message_type.as_str(), name.as_str()];
        self.messages.with_label_values(&labels).inc();
        if status.is_final() {
            self.messages_finished.with_label_values(&labels).inc();
        }
        if status == MessageStatus::Sending {
            self.provider_attempts
                .with_label_values(&[provider, message_type.as_str()])
                .inc();
        }
    }

    fn delivery_time(&self, provider: &str, message_type: MessageType, elapsed: Duration) {
        self.delivery_seconds
            .with_label_values(&[provider, message_type.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    fn provider_call(
        &self,
        provider: &str,
        operation: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        self.provider_request_seconds
            .with_label_values(&[provider, operation])
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.provider_errors
                .with_label_values(&[provider, kind])
                .inc();
        }
    }

    fn queue_depth(&self, message_type: MessageType, depth: usize) {
        self.queue_depth
            .with_label_values(&[message_type.as_str()])
            .set(saturating_i64(depth));
    }

    fn in_flight(&self, provider: &str, count: usize) {
        self.provider_in_flight
            .with_label_values(&[provider])
            .set(saturating_i64(count));
    }

    fn circuit_state(&self, provider: &str, state: u8) {
        self.provider_circuit_state
            .with_label_values(&[provider])
            .set(i64::from(state));
    }

    fn credit(&self, provider: &str, cents: f64) {
        self.provider_credit_cents
            .with_label_values(&[provider])
            .set(cents);
    }
}

fn saturating_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The value of the one sample named `name` with exactly these labels, read from the text
    /// format the way a scraper would.
    fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, label_text) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.strip_suffix('}')?),
                    None => (series, ""),
                };
                let found: BTreeMap<&str, &str> = label_text
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        Some((k, v.trim_matches('"')))
                    })
                    .collect();
                (series_name == name && found == wanted).then(|| value.parse().ok())?
            })
    }

    #[test]
    fn engine_reports_show_up_as_series_with_their_values() {
        let metrics = Metrics::new().unwrap();
        metrics.message_status(None, MessageType::Otp, MessageStatus::Queued);
        metrics.message_status(Some("mock"), MessageType::Otp, MessageStatus::Delivered);
        metrics.message_status(Some("mock"), MessageType::Otp, MessageStatus::Delivered);
        metrics.provider_call("mock", "send", Duration::from_millis(20), None);
        metrics.provider_call("mock", "send", Duration::from_millis(700), Some("TIMEOUT"));
        metrics.queue_depth(MessageType::Marketing, 12);
        metrics.in_flight("mock", 3);
        metrics.circuit_state("mock", 2);
        metrics.credit("mock", 1234.5);
        metrics.http_request("/graphql", 200, Duration::from_millis(3));

        let text = metrics.render();
        let check = |name: &str, labels: &[(&str, &str)], expected: f64| {
            assert_eq!(
                sample(&text, name, labels),
                Some(expected),
                "{name}{labels:?} in\n{text}"
            );
        };
        check(
            "smsgate_messages_total",
            &[("provider", "none"), ("type", "otp"), ("status", "queued")],
            1.0,
        );
        check(
            "smsgate_messages_total",
            &[
                ("provider", "mock"),
                ("type", "otp"),
                ("status", "delivered"),
            ],
            2.0,
        );
        check(
            "smsgate_provider_request_seconds_count",
            &[("provider", "mock"), ("operation", "send")],
            2.0,
        );
        check(
            "smsgate_provider_request_seconds_bucket",
            &[("provider", "mock"), ("operation", "send"), ("le", "0.025")],
            1.0,
        );
        check(
            "smsgate_provider_errors_total",
            &[("provider", "mock"), ("kind", "TIMEOUT")],
            1.0,
        );
        check("smsgate_queue_depth", &[("lane", "marketing")], 12.0);
        check("smsgate_provider_in_flight", &[("provider", "mock")], 3.0);
        check(
            "smsgate_provider_circuit_state",
            &[("provider", "mock")],
            2.0,
        );
        check(
            "smsgate_provider_credit_cents",
            &[("provider", "mock")],
            1234.5,
        );
        check(
            "smsgate_http_requests_total",
            &[("route", "/graphql"), ("status", "200")],
            1.0,
        );
        check(
            "smsgate_http_request_seconds_count",
            &[("route", "/graphql")],
            1.0,
        );
    }

    #[test]
    fn final_statuses_attempts_deliveries_and_graphql_fields_have_series_of_their_own() {
        let metrics = Metrics::new().unwrap();
        for status in [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Retrying,
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Delivered,
        ] {
            metrics.message_status(Some("mock"), MessageType::Otp, status);
        }
        metrics.delivery_time("mock", MessageType::Otp, Duration::from_secs(3));
        metrics.graphql_field("sendSms", true, Duration::from_millis(4));
        metrics.graphql_field("sendSms", false, Duration::from_millis(4));
        let text = metrics.render();
        let value = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
        let mock_otp = [("provider", "mock"), ("type", "otp")];
        let finished = |status| {
            value(
                "smsgate_messages_finished_total",
                &[mock_otp[0], mock_otp[1], ("status", status)],
            )
        };
        assert_eq!(finished("delivered"), Some(1.0));
        assert_eq!(finished("sent"), None, "SENT is not final");
        assert_eq!(
            value("smsgate_provider_attempts_total", &mock_otp),
            Some(2.0)
        );
        assert_eq!(
            value("smsgate_delivery_seconds_count", &mock_otp),
            Some(1.0)
        );
        assert_eq!(value("smsgate_delivery_seconds_sum", &mock_otp), Some(3.0));
        for outcome in ["ok", "error"] {
            assert_eq!(
                value(
                    "smsgate_graphql_operations_total",
                    &[("field", "sendSms"), ("outcome", outcome)]
                ),
                Some(1.0)
            );
        }
    }

    #[test]
    fn two_instances_do_not_share_series() {
        let a = Metrics::new().unwrap();
        let b = Metrics::new().unwrap();
        a.in_flight("mock", 5);
        assert!(a.render().contains("smsgate_provider_in_flight"));
        assert!(!b.render().contains("smsgate_provider_in_flight"));
    }

    #[test]
    fn a_forgotten_provider_disappears_from_the_scrape() {
        let metrics = Metrics::new().unwrap();
        metrics.credit("old", 10.0);
        metrics.circuit_state("old", 0);
        metrics.forget_provider("old");
        assert!(!metrics.render().contains("\"old\""));
    }
}
