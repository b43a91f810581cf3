//! The accept-limit port: whether one more message of a type may go to a recipient now (for
//! example at most 5 OTP per number per hour). The engine asks it only for new messages: an
//! idempotent repeat of an accepted request is answered without using the allowance.

use crate::domain::{MessageType, E164};
use std::time::Duration;

pub trait AcceptLimiter: Send + Sync + 'static {
    /// Takes one message from the recipient's allowance, or says how long until one is free.
    fn try_take(&self, to: &E164, message_type: MessageType) -> Result<(), Duration>;
    /// Gives back what `try_take` took for a message that was not accepted after all.
    fn give_back(&self, to: &E164, message_type: MessageType);
}
