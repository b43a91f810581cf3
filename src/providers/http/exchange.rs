//! One call to a provider on the wire, the sequence every HTTP provider follows: the request
//! through the guarded client (outbound policy refusals become errors), the status, the answer
//! read up to [`MAX_ANSWER_BYTES`], and a refusal turned into the provider's error.

use super::{classify_status, status_error, transport_error, Call};
use crate::providers::outbound::{client::SendError, GuardedClient};
use reqwest::{header::HeaderMap, StatusCode};
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};

/// The most of an answer that is read; no provider's answer to one call comes near it.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a provider answered: its status, its headers and its body as text, read up to
/// [`MAX_ANSWER_BYTES`].
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The error for a refusal the provider explains no better than its HTTP status.
    pub fn status_error(&self, provider: &str) -> ProviderError {
        status_error(
            provider,
            classify_status(self.status),
            self.status,
            &self.headers,
            None,
        )
    }
}

/// Sends `request` and reads the whole answer. A transport failure or a refusal by the outbound
/// policy is classified here (see [`super::transport_error`]); an answer whose status is not a
/// success becomes the error `refused` makes of it, since each provider explains refusals with
/// its own codes.
pub async fn exchange(
    client: &GuardedClient,
    provider: &str,
    call: Call,
    request: reqwest::RequestBuilder,
    refused: impl FnOnce(&Answer) -> ProviderError,
) -> Result<Answer, ProviderError> {
    let response = send(client, provider, call, request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = body_text(provider, call, response).await?;
    let answer = Answer {
        status,
        headers,
        body,
    };
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(refused(&answer))
    }
}

/// Sends a call through the guarded client. A call the outbound policy refuses never left:
/// `Rejected` (another provider may take the message), naming the host and the setting.
async fn send(
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
async fn body_text(
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
