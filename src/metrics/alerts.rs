//! Alert series: how many alerts of each rule are firing, the notices told per rule and state,
//! and what became of each webhook delivery. Every label is bounded: rule names, two states,
//! four delivery outcomes; never an alert's subject (a slug, a prefix, a number range).

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use smsgate_actors::{
    alerts::{Alert, AlertRule, AlertState},
    ports::AlertSink,
};
use std::sync::Arc;

/// What became of one notice handed to the webhook sink.
pub const WEBHOOK_OUTCOMES: [&str; 4] = ["delivered", "refused", "gave_up", "dropped"];

/// Cheap to clone: the series are shared handles into the registry.
#[derive(Clone)]
pub struct AlertSeries {
    firing: IntGaugeVec,
    notices: IntCounterVec,
    webhook: IntCounterVec,
}

impl AlertSeries {
    /// Registers the series in `registry`, each rule's and outcome's at zero, so a dashboard
    /// sees them (and `rate()` works) before the first alert ever fires.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let firing = IntGaugeVec::new(
            Opts::new(
                "smsgate_alerts_firing",
                "Alerts firing now, by rule (one per subject: a provider, a prefix, a range).",
            ),
            &["rule"],
        )?;
        let notices = IntCounterVec::new(
            Opts::new(
                "smsgate_alert_notices_total",
                "Alert notices told (first firing, repeats and resolved), by rule and state.",
            ),
            &["rule", "state"],
        )?;
        let webhook = IntCounterVec::new(
            Opts::new(
                "smsgate_alert_webhook_deliveries_total",
                "Alert notices handed to the webhook, by outcome: delivered, refused (a 4xx, not \
                 retried), gave_up (retries exhausted) or dropped (its queue was full).",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(firing.clone()))?;
        registry.register(Box::new(notices.clone()))?;
        registry.register(Box::new(webhook.clone()))?;
        for rule in AlertRule::ALL {
            firing.with_label_values(&[rule.as_str()]).set(0);
            for state in [AlertState::Firing, AlertState::Resolved] {
                notices.with_label_values(&[rule.as_str(), state.as_str()]);
            }
        }
        for outcome in WEBHOOK_OUTCOMES {
            webhook.with_label_values(&[outcome]);
        }
        Ok(Self {
            firing,
            notices,
            webhook,
        })
    }

    /// One notice handed to the webhook ended as `outcome`, one of [`WEBHOOK_OUTCOMES`].
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook.with_label_values(&[outcome]).inc();
    }
}

impl AlertSink for AlertSeries {
    fn notify(&self, alert: Arc<Alert>) {
        self.notices
            .with_label_values(&[alert.rule.as_str(), alert.state.as_str()])
            .inc();
    }

    fn firing(&self, rule: AlertRule, count: usize) {
        self.firing
            .with_label_values(&[rule.as_str()])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered sample line's value, such as `name{rule="x"} 2`.
    fn value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let head = format!("{name}{{{}}} ", labels.join(","));
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn every_rule_and_outcome_starts_at_zero_and_counts_what_it_is_told() {
        let registry = Registry::new();
        let series = AlertSeries::register(&registry).unwrap();
        for rule in AlertRule::ALL {
            let r = rule.as_str();
            assert_eq!(
                value(&registry, "smsgate_alerts_firing", &[("rule", r)]),
                Some(0.0)
            );
            assert_eq!(
                value(
                    &registry,
                    "smsgate_alert_notices_total",
                    &[("rule", r), ("state", "resolved")]
                ),
                Some(0.0)
            );
        }
        series.firing(AlertRule::ProviderDown, 2);
        series.webhook_delivery("gave_up");
        assert_eq!(
            value(
                &registry,
                "smsgate_alerts_firing",
                &[("rule", "provider_down")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &registry,
                "smsgate_alert_webhook_deliveries_total",
                &[("outcome", "gave_up")]
            ),
            Some(1.0)
        );
        series.firing(AlertRule::ProviderDown, 0);
        assert_eq!(
            value(
                &registry,
                "smsgate_alerts_firing",
                &[("rule", "provider_down")]
            ),
            Some(0.0)
        );
    }
}
