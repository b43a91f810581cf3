//! Router: delivery receipts: matching them to messages (in memory or in the store), holding
//! those that overtake the provider's answer, and the SENT messages waiting for one.

use super::{
    RouterMsg, RouterState, MAX_AWAITING_RECEIPT, MAX_EARLY_RECEIPTS, MAX_RECEIPT_RETRIES,
    RECEIPT_RETRY_FOR, RETRY_LOOKUPS_PER_TICK,
};
use crate::{
    domain::{event::ErrorKind, Message, MessageError, MessageId, MessageStatus},
    ports::{DeliveryReport, DeliveryStatus},
    protocol::ProviderMsg,
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
        let key = (report.provider.clone(), report.provider_message_id.clone());
        // The answer may have arrived while the store was being searched.
        if let Some(id) = self.by_provider_id.get(&key).cloned() {
            self.apply_report(&id, &report);
            return;
        }
        tracing::debug!(provider = %key.0, provider_message_id = %key.1, "holding a receipt that matches no message yet");
        if self.early_receipts.insert(key.clone(), report).is_none() {
            self.early_order.push_back(key);
            if self.early_order.len() > MAX_EARLY_RECEIPTS {
                if let Some(oldest) = self.early_order.pop_front() {
                    if self.early_receipts.remove(&oldest).is_some() {
                        tracing::info!(provider = %oldest.0, provider_message_id = %oldest.1, "a receipt matched no message and was dropped");
                    }
                }
            }
        }
    }

    /// Keeps a receipt to look up again on the next ticks: with several instances, the one
    /// holding its message may not have stored the send's answer yet (SENDING, or no provider
    /// id to match). Bounded in number and in time.
    pub(super) fn retry_receipt(&mut self, report: DeliveryReport) {
        let key = (report.provider.clone(), report.provider_message_id.clone());
        if self.receipt_retries.len() < MAX_RECEIPT_RETRIES
            || self.receipt_retries.contains_key(&key)
        {
            self.receipt_retries.entry(key).or_insert_with(|| {
                let now = Instant::now();
                (now, now, report)
            });
        }
    }

    /// A receipt found its message: no more look-ups for it.
    pub(super) fn receipt_retried(&mut self, report: &DeliveryReport) {
        if !self.receipt_retries.is_empty() {
            let key = (report.provider.clone(), report.provider_message_id.clone());
            self.receipt_retries.remove(&key);
        }
    }

    /// Looks some kept receipts up again, those looked up longest ago first; those kept too
    /// long are dropped. At most `RETRY_LOOKUPS_PER_TICK` a tick: receipts naming ids no
    /// message has (forged ones, say) cannot make the store work harder than that, however
    /// many come.
    pub(super) fn retry_receipts(&mut self, myself: &ActorRef<RouterMsg>) {
        if self.receipt_retries.is_empty() {
            return;
        }
        self.receipt_retries.retain(|(provider, provider_message_id), (since, _, _)| {
            let keep = since.elapsed() < RECEIPT_RETRY_FOR;
            if !keep {
                tracing::info!(provider = ?provider, provider_message_id = ?provider_message_id, "a receipt found no message to take it and was dropped");
            }
            keep
        });
        let mut due: Vec<(&(String, String), Instant)> = self
            .receipt_retries
            .iter()
            .map(|(key, (_, tried, _))| (key, *tried))
            .collect();
        due.sort_unstable_by_key(|(_, tried)| *tried);
        let due: Vec<(String, String)> = due
            .into_iter()
            .take(RETRY_LOOKUPS_PER_TICK)
            .map(|(key, _)| key.clone())
            .collect();
        let now = Instant::now();
        let mut reports = Vec::with_capacity(due.len());
        for key in due {
            if let Some((_, tried, report)) = self.receipt_retries.get_mut(&key) {
                *tried = now;
                reports.push(report.clone());
            }
        }
        for report in reports {
            self.on_report(myself, report);
        }
    }

    pub(super) fn await_receipt(&mut self, id: MessageId) {
        self.awaiting_receipt.push_back(id);
        while self.awaiting_receipt.len() > MAX_AWAITING_RECEIPT {
            let Some(oldest) = self.awaiting_receipt.pop_front() else {
                break;
            };
            let still_waiting = self
                .messages
                .get(&oldest)
                .is_some_and(|t| t.message.status == MessageStatus::Sent);
            if still_waiting {
                if let Some(t) = self.messages.remove(&oldest) {
                    if let (Some(p), Some(pid)) =
                        (t.message.provider, t.message.provider_message_id)
                    {
                        self.by_provider_id.remove(&(p, pid));
                    }
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
            .or_else(|| {
                self.by_provider_id
                    .get(&(report.provider.clone(), report.provider_message_id.clone()))
                    .cloned()
            });
        if let Some(id) = id {
            self.receipt_retried(&report);
            self.apply_report(&id, &report);
            return;
        }
        if report
            .message_id
            .as_ref()
            .is_some_and(|id| self.recent_final.0.contains(id))
        {
            self.receipt_retried(&report);
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

    /// Applies a receipt, or holds it while the message is SENDING: applied then, it would
    /// skip SENT and the provider's answer (its message id, the cost) would find the message
    /// finished and be lost. The answer applies it after SENT (see `on_send_finished`).
    pub(super) fn apply_report(&mut self, id: &MessageId, report: &DeliveryReport) {
        if report.status == DeliveryStatus::Pending {
            return;
        }
        let sending = self
            .messages
            .get(id)
            .is_some_and(|t| t.message.status == MessageStatus::Sending);
        if sending {
            tracing::debug!(message_id = %id, "holding a receipt that overtook the send's answer");
            self.before_answer.insert(id.clone(), report.clone());
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
