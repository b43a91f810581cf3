//! The send-side rate limit port: the schema asks it before `sendSms` whether this recipient may
//! get another message of this type. The server implements it (per recipient, per message
//! type) and puts an `Arc<dyn SendLimiter>` in the schema data; without one, nothing is limited.

use smsgate_actors::domain::MessageType;
use std::time::Duration;

pub trait SendLimiter: Send + Sync + 'static {
    /// Ok, or how long until a message of `message_type` to `to` would be accepted.
    fn check_recipient(&self, to: &str, message_type: MessageType) -> Result<(), Duration>;
}
