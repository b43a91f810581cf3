//! Finding a send whose answer was lost (twilio.md §4): list the account's Messages filtered by
//! `To`, `From` and `DateSent>` (the day the send started, in UTC) and take the newest whose text
//! is ours and that was created since the send started. Twilio has no idempotency key, so this
//! is how a timed-out create is told apart from one that never arrived. "Not found" is said only
//! when the page holds the whole listing; a longer one cannot prove absence, so it is an error
//! (the send stays ambiguous rather than risk a second copy).

use super::{normalise_id, price_cents, Twilio, NAME};
use crate::providers::http::{self, Call};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use smsgate_actors::ports::{ProviderError, SendLookup, SendReceipt, SendRequest};

#[derive(Deserialize)]
struct ListAnswer {
    messages: Vec<Listed>,
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    sid: String,
    to: Option<String>,
    body: Option<String>,
    num_segments: Option<String>,
    price: Option<String>,
    date_created: Option<String>,
}

pub async fn look_up_send(
    twilio: &Twilio,
    request: &SendRequest,
    since: DateTime<Utc>,
) -> Result<SendLookup, ProviderError> {
    let day = since.format("%Y-%m-%d").to_string();
    let mut query: Vec<(&str, &str)> = vec![
        ("To", request.to.as_str()),
        ("DateSent>", day.as_str()),
        ("PageSize", "50"),
    ];
    let from = request.sender.as_ref().or(twilio.sender.as_ref());
    if let (None, Some(from)) = (&twilio.own.messaging_service_sid, from) {
        query.push(("From", from));
    }
    let body = twilio
        .call(
            Call::Status,
            twilio.client.get(twilio.url("Messages.json")).query(&query),
        )
        .await?;
    let answer: ListAnswer = serde_json::from_str(&body)
        .map_err(|err| http::malformed(NAME, Call::Status, true, err))?;
    let found = answer.messages.into_iter().find(|m| {
        let created = m
            .date_created
            .as_deref()
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok());
        m.body.as_deref() == Some(request.body.as_str())
            && m.to.as_deref().is_none_or(|to| to == request.to.as_str())
            && created.is_none_or(|at| at >= since)
    });
    let complete = answer.next_page_uri.as_deref().is_none_or(str::is_empty);
    Ok(match found {
        None if !complete => {
            return Err(ProviderError::new(
                smsgate_actors::ports::ProviderErrorKind::Unavailable,
                "Twilio listed more messages than one page: the send could not be ruled out",
            ))
        }
        Some(m) => {
            let segments = m
                .num_segments
                .as_deref()
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|n| *n > 0);
            SendLookup::Found(SendReceipt {
                provider_message_id: normalise_id(&m.sid),
                cost: twilio
                    .settings
                    .price_override(segments.unwrap_or(request.segments))
                    .or_else(|| price_cents(m.price.as_deref())),
                segments,
            })
        }
        None => SendLookup::NotFound,
    })
}
