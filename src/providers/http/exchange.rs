//! One call to a provider on the wire: the request through the guarded client (outbound policy
//! refusals become errors), and the answer read up to [`MAX_ANSWER_BYTES`].

use super::{transport_error, Call};
use crate::providers::outbound::{client::SendError, GuardedClient};
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};

/// The most of an answer that is read; no provider's answer to one call comes near it.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends a call through the guarded client. A call the outbound policy refuses never left:
/// `Rejected` (another provider may take the message), naming the host and the setting.
pub async fn send(
    client: &GuardedClient,
    provider: &str,
    call: Call,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    client.send(request).await.map_err(|err| match err {
        SendError::Refused(refused) => ProviderError::new(
            ProviderErrorKind::Rejected,
            format!("{provider}: {refused}"),
        ),
        SendError::Http(err) => transport_error(provider, call, err),
    })
}

/// Reads the body of an answer as text, at most [`MAX_ANSWER_BYTES`] of it (the rest is not
/// read: a cut JSON answer then fails to parse, as a garbled one does), classifying a broken
/// read like a transport error.
pub async fn body_text(
    provider: &str,
    call: Call,
    mut response: reqwest::Response,
) -> Result<String, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(provider, call, err))?
    {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            tracing::warn!(
                provider,
                limit = MAX_ANSWER_BYTES,
                "the answer is larger than the limit; the rest is not read"
            );
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}
