//! Alerts at the edge: the webhook sink, and the alert setup the composition root hands to the
//! engine (rules from `[alerts]`, the system clock, the store's alert history, the sinks).

pub mod webhook;

use crate::{
    config::AlertSettings,
    metrics::{AlertSeries, Metrics},
};
use anyhow::Context;
use smsgate_actors::{
    ports::{AlertLog, AlertSink, SystemClock},
    AlertsSetup,
};
use std::sync::Arc;

/// The engine's alert setup from the settings; the webhook sink starts here when configured.
/// The alert series are registered in `metrics`' registry (once per registry).
pub fn setup(
    settings: &AlertSettings,
    log: Arc<dyn AlertLog>,
    metrics: &Metrics,
) -> anyhow::Result<AlertsSetup> {
    let series = AlertSeries::register(metrics.registry())
        .context("could not register the alert metrics")?;
    let mut sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(series.clone())];
    if let Some(webhook) = &settings.webhook {
        let sink = webhook::WebhookSink::start_counted(webhook.clone(), Some(series))
            .context("could not build the alert webhook's HTTP client")?;
        sinks.push(sink);
    }
    Ok(AlertsSetup {
        config: settings.rules.clone(),
        clock: Arc::new(SystemClock),
        log,
        sinks,
    })
}
