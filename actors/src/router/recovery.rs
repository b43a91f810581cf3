//! Router: taking in the unfinished messages found at start (or taken over from another
//! instance): requeued, awaiting their receipt, or, caught in SENDING, settled by a look-up at
//! their provider; and letting go of one whose change was refused for a lost lease.

use super::{attempts::send_request, RouterState};
use crate::{
    domain::{event::ErrorKind, Message, MessageError, MessageId, MessageStatus},
    protocol::{ProviderMsg, RouterMsg},
};

/// Look-ups of a message whose lease was lost before the Router gives up on it (one lease time
/// apart): past that the store has been unreachable for that long, and a restart claims it.
const HELD_LOOKUPS: u32 = 10;

impl RouterState {
    /// A change of `id` was refused: another instance held the message when it was written.
    /// The Router forgets it, then asks the store whether this instance holds it again: the
    /// refusal's answer can arrive after this instance claimed the message back (its holder
    /// died), and that claim's `Recover` was skipped because the message was still known here.
    /// Without the look-up, such a message would stay held by this instance and sent by nobody.
    pub(super) fn on_lease_lost(&mut self, id: MessageId) {
        tracing::info!(message_id = %id, "change refused: another instance held the message; forgotten here");
        self.forget(&id);
        let store = self.args.store.clone();
        let me = self.myself.clone();
        let pause = store.holder().ttl;
        tokio::spawn(async move {
            for _ in 0..HELD_LOOKUPS {
                match store.held(&id).await {
                    Ok(Some(message)) => {
                        tracing::info!(message_id = %id, "held by this instance again; taken up");
                        let _ = me.cast(RouterMsg::Recover(vec![message]));
                        return;
                    }
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(message_id = %id, error.message = %err, "could not look up who holds a message whose change was refused");
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        });
    }

    pub(super) fn recover(&mut self, messages: Vec<Message>) {
        let mut counts = [0usize; 3];
        for message in messages {
            if self.messages.contains_key(&message.id) {
                continue;
            }
            match message.status {
                MessageStatus::Queued | MessageStatus::Retrying => {
                    counts[0] += 1;
                    self.enqueue(message);
                }
                MessageStatus::Sent => {
                    counts[1] += 1;
                    let id = message.id.clone();
                    self.track(message);
                    self.tell_provider_awaiting(&id);
                    self.await_receipt(id);
                }
                MessageStatus::Sending => {
                    // The call may have reached the provider before the stop: sending again could
                    // deliver it twice. Its provider looks it up when it can (found: SENT; not
                    // found: sent again); otherwise it is failed with a reason admins can see.
                    counts[2] += 1;
                    let id = message.id.clone();
                    self.track(message);
                    if self.reconcile(&id) {
                        continue;
                    }
                    self.change(
                        &id,
                        MessageStatus::Failed,
                        Some(MessageError {
                            kind: ErrorKind::Interrupted,
                            message: "the process stopped during the provider call; not resent, to avoid a duplicate".into(),
                        }),
                        None,
                    );
                }
                MessageStatus::Delivered
                | MessageStatus::Undelivered
                | MessageStatus::Failed
                | MessageStatus::Expired => {}
            }
        }
        tracing::info!(
            requeued = counts[0],
            awaiting_receipt = counts[1],
            interrupted = counts[2],
            "recovered unfinished messages"
        );
    }

    /// Asks the provider of a message caught in SENDING to settle it; its outcome comes back as
    /// a `SendFinished`. False when that provider is not running.
    pub(super) fn reconcile(&mut self, id: &MessageId) -> bool {
        let Some(m) = self.messages.get(id).map(|t| &t.message) else {
            return false;
        };
        let Some(entry) = m.provider.as_ref().and_then(|p| self.providers.get_mut(p)) else {
            return false;
        };
        let Some(actor) = entry.actor.clone() else {
            return false;
        };
        let since = m
            .events
            .iter()
            .rev()
            .find(|e| e.status == MessageStatus::Sending)
            .map_or(m.created_at, |e| e.at)
            - chrono::Duration::seconds(60);
        let request = send_request(m, entry.config.sender_id.clone());
        if actor
            .cast(ProviderMsg::Reconcile { request, since })
            .is_err()
        {
            return false;
        }
        // Counted as a call in flight, so a drain waits for it and its outcome balances it.
        entry.outstanding += 1;
        true
    }
}
