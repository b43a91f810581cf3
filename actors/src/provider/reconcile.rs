//! Settles an ambiguous send (it may or may not have reached the provider) by looking it up in
//! the provider's own records, when the provider can list what it received. Found: the send's
//! receipt, as if the answer had arrived. Not found: a retryable error, since nothing went out.
//! Still unknown after the bounded look-ups, or no way to look: the ambiguous error stands and
//! the message is never sent again.

use crate::ports::{
    ProviderError, ProviderErrorKind, SendLookup, SendReceipt, SendRequest, SmsProvider,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How the look-ups are paced: the first after `delay` (the provider may need a moment to list
/// a message it just took), each later one after twice the wait before it.
#[derive(Debug, Clone, Copy)]
pub struct Reconcile {
    pub delay: Duration,
    pub attempts: u32,
}

/// The outcome that replaces `ambiguous` after looking the send up.
pub async fn settle(
    client: &dyn SmsProvider,
    plan: Option<Reconcile>,
    slug: &str,
    request: &SendRequest,
    since: DateTime<Utc>,
    ambiguous: ProviderError,
) -> Result<SendReceipt, ProviderError> {
    let Some(plan) = plan.filter(|p| p.attempts > 0 && client.can_look_up_sends()) else {
        return Err(ambiguous);
    };
    let mut wait = plan.delay;
    for attempt in 1..=plan.attempts {
        tokio::time::sleep(wait).await;
        wait *= 2;
        match client.look_up_send(request, since).await {
            Ok(SendLookup::Found(receipt)) => {
                tracing::info!(provider = %slug, message_id = %request.message_id, provider_message_id = %receipt.provider_message_id, "an ambiguous send was found at the provider: it went out once");
                return Ok(receipt);
            }
            Ok(SendLookup::NotFound) => {
                tracing::info!(provider = %slug, message_id = %request.message_id, "an ambiguous send is not known to the provider: safe to send again");
                return Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    format!(
                        "{}; the provider has no record of it, so it is sent again",
                        ambiguous.message
                    ),
                ));
            }
            Err(err) => {
                tracing::debug!(provider = %slug, message_id = %request.message_id, attempt, error.message = %err, "could not look an ambiguous send up");
            }
        }
    }
    Err(ProviderError::new(
        ProviderErrorKind::Ambiguous,
        format!(
            "{} (the provider could not say whether it has it)",
            ambiguous.message
        ),
    ))
}
