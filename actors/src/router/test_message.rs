//! Router unit tests: a message as the Router holds it, built without an engine.

use crate::domain::{Encoding, Message, MessageId, MessageStatus, MessageType, E164};

/// A message of `message_type` in `status`, valid for an hour, sent through `provider` under
/// the provider's id `provider_message_id` when they are given.
pub(super) fn message(
    message_type: MessageType,
    status: MessageStatus,
    sent: Option<(&str, &str)>,
) -> Message {
    let now = chrono::Utc::now();
    Message {
        id: MessageId::generate(),
        to: E164::from_stored("+40700000000".into()),
        body: "b".into(),
        message_type,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status,
        provider: sent.map(|(p, _)| p.to_owned()),
        provider_message_id: sent.map(|(_, pid)| pid.to_owned()),
        encoding: Encoding::Gsm7,
        segments: 1,
        cost: None,
        attempts: 0,
        error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        delivered_at: None,
        expires_at: now + chrono::Duration::hours(1),
        events: Vec::new(),
    }
}
