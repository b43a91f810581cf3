//! REST shapes of the seed (snake_case, `sms_logs`-like messages), shared by the REST routes.

use serde::{Deserialize, Serialize};
use smsgate_actors::domain::Role;
use smsgate_actors::domain::{Message, MessageType};
use smsgate_graphql::message::HIDDEN_OTP;

/// A message as the seed's `sms_logs` documents show it; `status` in lower case.
#[derive(Debug, Serialize)]
pub struct SmsLog {
    pub id: String,
    pub provider: Option<String>,
    pub phone_number: String,
    pub message_type: &'static str,
    pub message: String,
    pub status: String,
    pub response_token: Option<String>,
    /// Eurocents.
    pub cost: Option<f64>,
    pub segments: u32,
    pub encoding: &'static str,
    pub attempts: u32,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub error: Option<SmsError>,
    pub events: Vec<SmsEvent>,
}

#[derive(Debug, Serialize)]
pub struct SmsError {
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct SmsEvent {
    pub status: String,
    pub at: String,
    pub provider: Option<String>,
    pub error: Option<SmsError>,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SmsLog {
    /// A message as a caller of `role` may read it: only an admin reads an OTP's text; a viewer
    /// also gets the recipient masked (`+40755***456`), where an error text quotes it too.
    pub fn read_by(m: &Message, role: Role) -> Self {
        let mut log = Self::from(m);
        if role != Role::Admin && m.message_type == MessageType::Otp {
            log.message = HIDDEN_OTP.to_owned();
        }
        if role == Role::Viewer {
            log.phone_number = m.to.masked();
            let errors = log
                .error
                .iter_mut()
                .chain(log.events.iter_mut().filter_map(|e| e.error.as_mut()));
            for error in errors {
                error.message = m.to.mask_in(&error.message);
            }
        }
        log
    }
}

impl From<&Message> for SmsLog {
    fn from(m: &Message) -> Self {
        let error = |e: &smsgate_actors::domain::MessageError| SmsError {
            kind: e.kind.as_str(),
            message: e.message.clone(),
        };
        Self {
            id: m.id.to_string(),
            provider: m.provider.clone(),
            phone_number: m.to.to_string(),
            message_type: m.message_type.as_str(),
            message: m.body.clone(),
            status: m.status.as_str().to_lowercase(),
            response_token: m.provider_message_id.clone(),
            cost: m.cost.map(|c| c.cents()),
            segments: m.segments,
            encoding: m.encoding.as_str(),
            attempts: m.attempts,
            created_at: rfc3339(m.created_at),
            sent_at: m.sent_at.map(rfc3339),
            delivered_at: m.delivered_at.map(rfc3339),
            error: m.error.as_ref().map(error),
            events: m
                .events
                .iter()
                .map(|e| SmsEvent {
                    status: e.status.as_str().to_lowercase(),
                    at: rfc3339(e.at),
                    provider: e.provider.clone(),
                    error: e.error.as_ref().map(error),
                })
                .collect(),
        }
    }
}

/// `POST /internal/sms/send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub phone_number: String,
    pub message: String,
    #[serde(default)]
    pub message_type: Option<String>,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Seconds the message may wait to be sent (30 to 259200); the type's default when absent.
    #[serde(default)]
    pub validity_seconds: Option<u32>,
}

impl SendRequest {
    pub fn message_type(&self) -> Result<MessageType, smsgate_actors::EngineError> {
        match self.message_type.as_deref() {
            None => Ok(MessageType::default()),
            Some(raw) => MessageType::parse(raw).ok_or_else(|| {
                smsgate_actors::EngineError::invalid(
                    "message_type",
                    "one of otp, transactional, marketing",
                )
            }),
        }
    }
}
