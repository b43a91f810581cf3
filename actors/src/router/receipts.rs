//! Router: delivery receipts: matching them to messages (in memory or in the store), holding
//! those that overtake the provider's answer (in the receipt book), and applying them.

use super::{receipt_book::key_of, RouterState};
use crate::{
    domain::{event::ErrorKind, Message, MessageError, MessageId, MessageStatus},
    ports::{DeliveryReport, DeliveryStatus},
    protocol::{ProviderMsg, RouterMsg},
};
use ractor::ActorRef;
use tokio::time::Instant;

/// Whether `provider` is the one that sent `message` (its current attempt): a receipt from any
/// other provider, whatever ids it names, must never move the message.
pub(super) fn sent_by(message: &Message, provider: &str) -> bool {
    message.provider.as_deref() == Some(provider)
}

impl RouterState {
    /// A receipt that matches no message yet: the provider may have called back before its
    /// answer to our send arrived. Kept (bounded) until that answer names the message.
    pub(super) fn hold_early_receipt(&mut self, report: DeliveryReport) {
        // The answer may have arrived while the store was being searched.
        if let Some(id) = self.book.message_for(&key_of(&report)).cloned() {
            self.apply_report(&id, &report);
            return;
        }
        self.book.hold_early(report);
    }

    /// Keeps a receipt to look up again on the next ticks: with several instances, the one
    /// holding its message may not have stored the send's answer yet (SENDING, or no provider
    /// id to match). Bounded in number and in time.
    pub(super) fn retry_receipt(&mut self, report: DeliveryReport) {
        self.book.retry_later(report, Instant::now());
    }

    /// Looks some kept receipts up again, those looked up longest ago first; those kept too
    /// long are dropped. A bounded number a tick: receipts naming ids no message has (forged
    /// ones, say) cannot make the store work harder than that, however many come.
    pub(super) fn retry_receipts(&mut self, myself: &ActorRef<RouterMsg>) {
        for report in self.book.due_retries(Instant::now()) {
            self.on_report(myself, report);
        }
    }

    /// Notes a message that became SENT; past the bound the oldest still waiting are let go:
    /// they stay in the store, and a late receipt finds them there.
    pub(super) fn await_receipt(&mut self, id: MessageId) {
        for oldest in self.book.await_receipt(id) {
            let still_waiting = self
                .messages
                .get(&oldest)
                .is_some_and(|t| t.message.status == MessageStatus::Sent);
            if still_waiting {
                if let Some(t) = self.messages.remove(&oldest) {
                    self.book.unindex(&t.message);
                }
            }
        }
    }

    /// Tells the message's provider actor that it waits for a receipt, so a provider without
    /// webhooks can poll its status (the actor ignores it when its receipts come by webhook).
    pub(super) fn tell_provider_awaiting(&self, id: &MessageId) {
        let Some(m) = self.messages.get(id).map(|t| &t.message) else {
            return;
        };
        let (Some(slug), Some(pid)) = (&m.provider, &m.provider_message_id) else {
            return;
        };
        if let Some(actor) = self.providers.get(slug).and_then(|e| e.actor.as_ref()) {
            let _ = actor.cast(ProviderMsg::AwaitReceipt {
                message_id: m.id.clone(),
                provider_message_id: pid.clone(),
                expires_at: m.expires_at,
            });
        }
    }

    pub(super) fn on_report(&mut self, myself: &ActorRef<RouterMsg>, report: DeliveryReport) {
        let named = report
            .message_id
            .as_ref()
            .and_then(|id| self.messages.get(id))
            .map(|t| sent_by(&t.message, &report.provider));
        if named == Some(false) {
            // Held here, so this instance knows which provider sent it: not this one.
            tracing::info!(provider = ?report.provider, "a receipt named a message another provider sent; ignored");
            return;
        }
        let id = report
            .message_id
            .clone()
            .filter(|_| named == Some(true))
            .or_else(|| self.book.message_for(&key_of(&report)).cloned());
        if let Some(id) = id {
            self.book.retried(&report);
            self.apply_report(&id, &report);
            return;
        }
        if report
            .message_id
            .as_ref()
            .is_some_and(|id| self.book.finished_recently(id))
        {
            self.book.retried(&report);
            return;
        }
        let store = self.args.store.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            let found = match &report.message_id {
                Some(id) => store.message(id).await,
                None => {
                    store
                        .message_by_provider_id(&report.provider, &report.provider_message_id)
                        .await
                }
            };
            match found {
                Ok(message) => {
                    let _ = me.cast(RouterMsg::ReportResolved(report, message));
                }
                Err(err) => {
                    tracing::warn!(error.message = %err, "could not look up a receipt's message")
                }
            }
        });
    }

    /// A receipt for a message not held here, after the store was asked for its message.
    pub(super) fn on_report_resolved(&mut self, report: DeliveryReport, message: Option<Message>) {
        // Named by our id, the stored message may be another provider's: then the receipt
        // matches nothing here (yet), like an unknown id.
        let Some(message) = message.filter(|m| sent_by(m, &report.provider)) else {
            self.retry_receipt(report.clone());
            self.hold_early_receipt(report);
            return;
        };
        let borrowed = !message.status.is_final() && !self.messages.contains_key(&message.id);
        if borrowed && message.status == MessageStatus::Sending {
            // Its holder (another instance) still waits for the send's answer: applied now,
            // the receipt would skip SENT. Looked up again later.
            self.retry_receipt(report);
            return;
        }
        self.book.retried(&report);
        if borrowed {
            self.track(message.clone());
        }
        self.apply_report(&message.id, &report);
        // Held only to apply this receipt (its lease may be another instance's): not kept
        // when the receipt did not finish it.
        if borrowed {
            self.forget(&message.id);
        }
    }

    /// Applies a receipt, or holds it while the message is SENDING: applied then, it would
    /// skip SENT and the provider's answer (its message id, the cost) would find the message
    /// finished and be lost. The answer applies it after SENT (see `on_send_finished`).
    pub(super) fn apply_report(&mut self, id: &MessageId, report: &DeliveryReport) {
        let _span =
            tracing::info_span!("receipt", message_id = %id, provider = %report.provider).entered();
        tracing::debug!(status = ?report.status, "delivery receipt");
        if report.status == DeliveryStatus::Pending {
            return;
        }
        let sending = self
            .messages
            .get(id)
            .is_some_and(|t| t.message.status == MessageStatus::Sending);
        if sending {
            tracing::debug!(message_id = %id, "holding a receipt that overtook the send's answer");
            self.book.hold_before_answer(id.clone(), report.clone());
            return;
        }
        self.settle(id, report);
    }

    /// Moves the message to the receipt's outcome.
    pub(super) fn settle(&mut self, id: &MessageId, report: &DeliveryReport) {
        let next = match report.status {
            DeliveryStatus::Pending => return,
            DeliveryStatus::Delivered => MessageStatus::Delivered,
            DeliveryStatus::Undelivered | DeliveryStatus::Failed => MessageStatus::Undelivered,
        };
        let error = report.error.clone().or_else(|| {
            (next == MessageStatus::Undelivered).then(|| MessageError {
                kind: ErrorKind::Rejected,
                message: "the network reported the message undelivered".into(),
            })
        });
        self.change(id, next, error, None);
    }
}
