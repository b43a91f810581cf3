//! The accept-limit port: whether one more message may be accepted now — within the sending
//! token's rate and daily spend, and the recipient's allowance for its type (for example at
//! most 5 OTP per number per hour). The engine asks it only for new messages: an idempotent
//! repeat of an accepted request is answered without using any allowance.

use crate::domain::{MessageType, Money, E164};
use async_trait::async_trait;
use std::time::Duration;

/// One message asking to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The name of the token sending it; `None` for the engine's own callers (the CLI, tests).
    pub sent_by: Option<&'a str>,
    pub to: &'a E164,
    pub message_type: MessageType,
    /// SMS parts it needs.
    pub segments: u32,
    /// What it is expected to cost: its parts at the highest price per part among the active
    /// providers that state one (it may fail over to any of them); `None` when none does.
    pub estimated_cost: Option<Money>,
}

/// Why a message is not accepted now, and when it could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    /// For the caller: which limit, never whose number.
    pub reason: String,
}

/// Asynchronous: with several instances the allowances are counted in the shared store.
#[async_trait]
pub trait AcceptLimiter: Send + Sync + 'static {
    /// Takes what one message uses of each allowance, or says which is exhausted. A refusal
    /// takes nothing.
    async fn try_take(&self, admission: &Admission<'_>) -> Result<(), Refusal>;
    /// Gives back what `try_take` took for a message that was not accepted after all.
    async fn give_back(&self, admission: &Admission<'_>);
}
