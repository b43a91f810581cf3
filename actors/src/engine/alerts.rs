//! The engine handle's alert operations: start the Alerts actor, follow notices, read history.

use super::{Engine, CALL_TIMEOUT_MS};
use crate::{
    alerts::{Alert, AlertQuery, AlertsArgs, AlertsConfig, AlertsMsg},
    error::EngineError,
    ports::{AlertLog, AlertSink, Clock},
    supervisor::SupervisorMsg,
};
use futures::stream::BoxStream;
use ractor::call_t;
use std::sync::Arc;

/// Longest page of alert history.
const MAX_HISTORY_PAGE: usize = 500;

/// What the Alerts actor needs from the composition root.
pub struct AlertsSetup {
    pub config: AlertsConfig,
    pub clock: Arc<dyn Clock>,
    pub log: Arc<dyn AlertLog>,
    pub sinks: Vec<Arc<dyn AlertSink>>,
}

impl Engine {
    /// Starts the Alerts actor under the supervisor. A second call changes nothing.
    pub async fn start_alerts(&self, setup: AlertsSetup) -> Result<(), EngineError> {
        let _ = self.inner.alert_log.set(setup.log.clone());
        let args = AlertsArgs {
            config: setup.config,
            clock: setup.clock,
            log: setup.log,
            sinks: setup.sinks,
            updates: self.inner.bus.clone(),
            store: self.inner.store.clone(),
            directory: self.inner.directory.clone(),
            alerts: self.inner.alerts.clone(),
        };
        call_t!(
            self.inner.supervisor,
            |reply| SupervisorMsg::StartAlerts(args, reply),
            CALL_TIMEOUT_MS
        )
        .map_err(|_| EngineError::stopped("supervisor"))?;
        Ok(())
    }

    /// Every alert notice from now on (firing, repeated, resolved). Ends when the subscriber
    /// falls behind by more than 256 notices; `alert_history` has what it missed.
    pub fn subscribe_alerts(&self) -> BoxStream<'static, Arc<Alert>> {
        self.inner.alerts.subscribe()
    }

    /// Stored notices, newest first. `query.limit` is clamped to 1..=500.
    pub async fn alert_history(&self, query: AlertQuery) -> Result<Vec<Alert>, EngineError> {
        let Some(log) = self.inner.alert_log.get() else {
            return Ok(Vec::new());
        };
        let query = AlertQuery {
            limit: query.limit.clamp(1, MAX_HISTORY_PAGE),
            ..query
        };
        Ok(log.alert_history(&query).await?)
    }

    /// Changes the Alerts actor has observed since it (re)started.
    pub async fn alerts_observed(&self) -> Result<u64, EngineError> {
        let actor = self.alerts_actor().await?;
        call_t!(actor, AlertsMsg::ObservedCount, CALL_TIMEOUT_MS)
            .map_err(|_| EngineError::stopped("alerts"))
    }

    async fn alerts_actor(&self) -> Result<ractor::ActorRef<AlertsMsg>, EngineError> {
        call_t!(
            self.inner.supervisor,
            SupervisorMsg::AlertsActor,
            CALL_TIMEOUT_MS
        )
        .map_err(|_| EngineError::stopped("supervisor"))?
        .ok_or_else(|| EngineError::stopped("alerts"))
    }

    /// Evaluates the alert rules now (not waiting for the tick) and returns the notices made.
    pub async fn evaluate_alerts(&self) -> Result<Vec<Alert>, EngineError> {
        let actor = self.alerts_actor().await?;
        call_t!(actor, AlertsMsg::Evaluate, CALL_TIMEOUT_MS)
            .map_err(|_| EngineError::stopped("alerts"))
    }
}
