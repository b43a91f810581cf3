//! Router: one attempt at a provider: SENDING committed, then the provider called; and what
//! its answer (or error) does to the message: SENT, a retry, failover, or FAILED.

use super::{RouterMsg, RouterState};
use crate::{
    domain::{Message, MessageError, MessageId, MessageStatus},
    logger::Done,
    policy::{backoff::retry_delay, selection::choose},
    ports::{ProviderError, ProviderErrorKind, SendReceipt, SendRequest, StoreError, WriteOutcome},
    protocol::{ProviderMsg, SendJob},
};
use chrono::Utc;
use ractor::ActorRef;
use std::{sync::Arc, time::Duration};

/// The request for one attempt of `m` (the provider's sender unless the message names one).
pub(super) fn send_request(m: &Message, provider_sender: Option<String>) -> SendRequest {
    SendRequest {
        message_id: m.id.clone(),
        to: m.to.clone(),
        body: m.body.clone(),
        sender: m.sender.clone().or(provider_sender),
        encoding: m.encoding,
        segments: m.segments,
        message_type: m.message_type,
        // A validity other than the type's default was set for this message: the provider is
        // told what is left of it, so it does not deliver the message late either.
        validity: (m.expires_at - m.created_at != m.message_type.default_validity()).then(|| {
            (m.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }),
    }
}

/// The provider call of one attempt, prepared while SENDING is written and made only once the
/// store has it: a message is never sent without a record that it may have been.
struct ProviderCall {
    actor: ActorRef<ProviderMsg>,
    router: ActorRef<RouterMsg>,
    provider: String,
    job: SendJob,
}

impl ProviderCall {
    /// SENDING's write is back. Applied: the provider is called. Refused or failed: no call
    /// (a lost lease makes the Router forget the message, see `RouterState::write`), and the
    /// place taken at the provider is given back: kept, each refusal would shrink the provider's
    /// concurrency for good, until it sent nothing at all.
    fn once_committed(self, written: Result<WriteOutcome, Arc<StoreError>>) {
        if matches!(written, Ok(WriteOutcome::Applied)) {
            self.call();
        } else {
            let _ = self.router.cast(RouterMsg::CallNotMade {
                provider: self.provider,
            });
        }
    }

    /// Hands the job to the provider actor; a stopped actor answers as an unavailable provider.
    fn call(self) {
        let message_id = self.job.message_id.clone();
        if self.actor.cast(ProviderMsg::Send(self.job)).is_err() {
            let err = ProviderError::new(ProviderErrorKind::Unavailable, "the provider stopped");
            let _ = self.router.cast(RouterMsg::SendFinished {
                message_id,
                provider: self.provider,
                result: Err(err),
            });
        }
    }
}

impl RouterState {
    /// One attempt of message `id` at provider `slug`, in two steps:
    /// 1. SENDING is committed (written through the Logger);
    /// 2. only then is the provider called (`ProviderCall::once_committed`).
    pub(super) fn start_attempt(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        id: &MessageId,
        slug: &str,
    ) {
        let _span = tracing::info_span!("dispatch", message_id = %id, provider = %slug).entered();
        let Some(call) = self.prepare_call(myself, id, slug) else {
            return;
        };
        tracing::debug!("SENDING written, then the provider is called");
        self.commit_sending_then(id, call);
    }

    /// Takes a place at the provider, counts the attempt on the message and builds its request.
    fn prepare_call(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        id: &MessageId,
        slug: &str,
    ) -> Option<ProviderCall> {
        let entry = self.providers.get_mut(slug)?;
        let actor = entry.actor.clone()?;
        entry.outstanding += 1;
        self.args.metrics.in_flight(slug, entry.outstanding);
        let sender = entry.config.sender_id.clone();
        let tracked = self.messages.get_mut(id)?;
        tracked.message.provider = Some(slug.to_owned());
        tracked.message.attempts += 1;
        let m = &tracked.message;
        Some(ProviderCall {
            actor,
            router: myself.clone(),
            provider: slug.to_owned(),
            job: SendJob {
                message_id: m.id.clone(),
                request: send_request(m, sender),
            },
        })
    }

    /// Writes SENDING; `call` runs once the store has answered that write.
    fn commit_sending_then(&mut self, id: &MessageId, call: ProviderCall) {
        let after_commit: Done = Box::new(move |written| call.once_committed(written));
        self.change(id, MessageStatus::Sending, None, Some(after_commit));
    }

    pub(super) fn on_send_finished(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        id: MessageId,
        provider: String,
        result: Result<SendReceipt, ProviderError>,
    ) {
        if result.is_err() {
            if let Some(report) = self.book.take_before_answer(&id) {
                // The provider's receipt shows it took the message although its answer failed
                // (a timeout after the request went out): that receipt is the outcome, and
                // sending the text again would deliver it twice.
                tracing::info!(message_id = %id, %provider, "send answer failed after its receipt arrived; the receipt stands");
                self.settle(&id, &report);
                return;
            }
        }
        let Some(tracked) = self.messages.get_mut(&id) else {
            tracing::debug!(message_id = %id, "an outcome for a message no longer tracked");
            return;
        };
        match result {
            Ok(receipt) => {
                let m = &mut tracked.message;
                m.provider_message_id = Some(receipt.provider_message_id.clone());
                m.cost = receipt.cost.or(m.cost);
                if let Some(segments) = receipt.segments {
                    m.segments = segments;
                }
                if m.status == MessageStatus::Sending {
                    let key = (provider, receipt.provider_message_id);
                    self.book.index(key.clone(), id.clone());
                    if self.change(&id, MessageStatus::Sent, None, None) {
                        let by_id = self.book.take_before_answer(&id);
                        match self.book.take_early(&key).or(by_id) {
                            // The receipt overtook the provider's answer: apply it now.
                            Some(report) => self.apply_report(&id, &report),
                            None => {
                                self.tell_provider_awaiting(&id);
                                self.await_receipt(id);
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracked.tried.push(provider.clone());
                let error = err.to_message_error();
                let m = &tracked.message;
                if err.kind.is_permanent_for_message() {
                    self.change(&id, MessageStatus::Failed, Some(error), None);
                    return;
                }
                if m.attempts >= self.args.config.max_attempts {
                    let error = MessageError {
                        kind: error.kind,
                        message: format!("{} (after {} attempts)", error.message, m.attempts),
                    };
                    self.change(&id, MessageStatus::Failed, Some(error), None);
                    return;
                }
                let pinned = m.pinned_provider.is_some();
                let attempts = m.attempts;
                let tried = tracked.tried.clone();
                let another = !pinned && {
                    let candidates = self.candidates();
                    choose(&candidates, None, &tried)
                        .is_some_and(|next| !tried.iter().any(|t| t == next))
                };
                let delay = if another {
                    Duration::ZERO
                } else {
                    retry_delay(
                        attempts,
                        self.args.config.retry_base,
                        self.args.config.retry_max,
                        err.retry_after,
                        &mut self.rng,
                    )
                };
                if self.change(&id, MessageStatus::Retrying, Some(error), None) {
                    tracing::debug!(message_id = %id, %provider, ?delay, "retrying");
                    if delay.is_zero() {
                        let _ = myself.cast(RouterMsg::Retry(id));
                    } else {
                        myself.send_after(delay, move || RouterMsg::Retry(id));
                    }
                }
            }
        }
    }
}
