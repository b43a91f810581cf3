//! Provider actor: one send, as a task bounded by the provider's `max_concurrency`. The task
//! reports the outcome to the Router directly (so it is not lost if this actor crashes
//! meanwhile) and to this actor for the breaker and the credit. An ambiguous send is looked up
//! at the provider (see `reconcile`), as is a message found SENDING at start-up.

use super::{reconcile, reconcile::Reconcile, ProviderState};
use crate::{
    ports::{ProviderError, ProviderErrorKind, SendReceipt, SendRequest},
    protocol::{ProviderMsg, RouterMsg, SendJob},
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use ractor::ActorRef;
use std::{panic::AssertUnwindSafe, time::Duration};
use tokio::time::Instant;
use tracing::Instrument;

/// The error label of a call's outcome, for the metrics.
pub(super) fn error_label<T>(result: &Result<T, ProviderError>) -> Option<&'static str> {
    result
        .as_ref()
        .err()
        .map(|e| crate::domain::event::ErrorKind::from(e.kind).as_str())
}

impl ProviderState {
    pub(super) fn start_send(&mut self, myself: &ActorRef<ProviderMsg>, job: SendJob) {
        if !self.breaker.try_acquire(Instant::now()) {
            // The Router chose us before it heard the circuit opened: hand the message back.
            let err = ProviderError::new(
                ProviderErrorKind::Unavailable,
                "the provider's circuit is open",
            );
            let _ = self.router.cast(RouterMsg::SendFinished {
                message_id: job.message_id,
                provider: self.slug.clone(),
                result: Err(err),
            });
            return;
        }
        let client = self.client.clone();
        let router = self.router.clone();
        let me = myself.clone();
        let permits = self.permits.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        let plan = self.reconcile;
        let span =
            tracing::info_span!("provider_call", message_id = %job.message_id, provider = %slug);
        let call = async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let started = Instant::now();
            // Allows for a provider clock a little behind ours when it lists what it received.
            let since = Utc::now() - chrono::Duration::seconds(60);
            // A panicking client must not strand the message in SENDING: it becomes an error.
            let result: Result<SendReceipt, ProviderError> =
                AssertUnwindSafe(client.send(&job.request))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ProviderErrorKind::Unavailable,
                            "the provider client failed unexpectedly",
                        ))
                    });
            metrics.provider_call(&slug, "send", started.elapsed(), error_label(&result));
            // The breaker counts the call as it went (a slow or garbled answer is a failure),
            // whatever the look-up finds.
            let first_failure = result.as_ref().err().map(|e| e.kind);
            let result = match result {
                Err(err) if err.kind == ProviderErrorKind::Ambiguous => {
                    reconcile::settle(client.as_ref(), plan, &slug, &job.request, since, err).await
                }
                other => other,
            };
            let (failed, cost) = match &result {
                Ok(receipt) => {
                    tracing::debug!(provider_message_id = %receipt.provider_message_id, took_ms = started.elapsed().as_millis() as u64, "the provider took the message");
                    (None, receipt.cost)
                }
                Err(err) => {
                    tracing::debug!(error.message = %err, "send failed");
                    (Some(err.kind), None)
                }
            };
            let _ = router.cast(RouterMsg::SendFinished {
                message_id: job.message_id,
                provider: slug,
                result,
            });
            let failed = failed.or(first_failure);
            let _ = me.cast(ProviderMsg::SendCompleted { failed, cost });
        };
        tokio::spawn(call.instrument(span));
    }

    /// A message was SENDING through us when the process stopped: it is looked up at once
    /// (the send is long over), and the outcome goes to the Router as a `SendFinished`.
    pub(super) fn reconcile_at_start(&self, request: SendRequest, since: DateTime<Utc>) {
        let client = self.client.clone();
        let router = self.router.clone();
        let slug = self.slug.clone();
        let plan = self.reconcile.map(|p| Reconcile {
            delay: Duration::ZERO,
            ..p
        });
        tokio::spawn(async move {
            let ambiguous = ProviderError::new(
                ProviderErrorKind::Ambiguous,
                "the process stopped during the provider call; not resent, to avoid a duplicate",
            );
            let result =
                reconcile::settle(client.as_ref(), plan, &slug, &request, since, ambiguous).await;
            let _ = router.cast(RouterMsg::SendFinished {
                message_id: request.message_id.clone(),
                provider: slug,
                result,
            });
        });
    }
}
