//! REST errors: every failure a route can answer, mapped once to the contract codes and HTTP
//! statuses, as `{"error": {"code": ..., "message": ...}}`.
//!
//! The GraphQL side maps the same `EngineError` kinds to the same codes in `extensions.code`;
//! [`code`] is that shared mapping.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};
use smsgate_actors::{domain::Role, EngineError};
use std::{error::Error as StdError, fmt::Write as _};

/// Why a request is not authenticated. The messages are what the client reads in the 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    Malformed,
    #[error("invalid token")]
    Invalid,
    #[error("this token was revoked")]
    Revoked,
    /// The token store could not be read: not the client's fault, so not a 401.
    #[error("the token store is unavailable")]
    Unavailable,
}

/// A failed request, as a route returns it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No valid bearer token.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// A valid token whose role may not do this.
    #[error("this needs one of the roles {}", roles_list(.allowed))]
    Forbidden { allowed: &'static [Role] },
}

fn roles_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The contract code of an engine error, the same on REST and GraphQL.
pub fn code(err: &EngineError) -> &'static str {
    match err {
        EngineError::InvalidInput { .. } => "INVALID_INPUT",
        EngineError::NotFound { .. } => "NOT_FOUND",
        EngineError::Conflict(_) => "CONFLICT",
        EngineError::NoProvider(_) => "NO_PROVIDER",
        EngineError::RateLimited { .. } => "RATE_LIMITED",
        EngineError::Unavailable(_) => "UNAVAILABLE",
        EngineError::Internal(_) => "INTERNAL",
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Engine(err) => code(err),
            Self::Unauthenticated(AuthError::Unavailable) => "UNAVAILABLE",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden { .. } => "FORBIDDEN",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(AuthError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Engine(err) => match err {
                EngineError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
                EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
                EngineError::Conflict(_) => StatusCode::CONFLICT,
                // 503 rather than 422: the request is fine; what is missing is a provider able
                // to take it (none configured, all open-circuit or out of credit), which is the
                // server's state and can change without the client changing anything. Clients
                // and proxies already treat 503 as "not accepted, try again later"; the body's
                // code tells it apart from UNAVAILABLE for those who care.
                EngineError::NoProvider(_) => StatusCode::SERVICE_UNAVAILABLE,
                EngineError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                EngineError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// What the client is told. For UNAVAILABLE and INTERNAL only a fixed sentence: the cause
    /// may name hosts, files or queries, so it goes to the log and nowhere else.
    fn public_message(&self) -> String {
        match self {
            Self::Engine(EngineError::Unavailable(_)) => {
                "temporarily unavailable; nothing was accepted, so it is safe to retry".to_owned()
            }
            Self::Engine(EngineError::Internal(_)) => "internal error".to_owned(),
            Self::Engine(EngineError::InvalidInput { reason, .. }) => reason.clone(),
            other => other.to_string(),
        }
    }

    /// `Retry-After` in whole seconds, rounded up so a client never comes back too early.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Engine(EngineError::RateLimited { retry_after, .. }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(secs.max(1))
            }
            _ => None,
        }
    }

    fn log(&self) {
        match self {
            Self::Engine(EngineError::Internal(_)) => tracing::error!(
                error.message = %self,
                error.cause_chain = %cause_chain(self),
                "request failed with an internal error"
            ),
            Self::Engine(EngineError::Unavailable(_)) => tracing::warn!(
                error.message = %self,
                error.cause_chain = %cause_chain(self),
                "request refused: unavailable"
            ),
            _ => tracing::debug!(code = self.code(), error.message = %self, "request refused"),
        }
    }
}

/// The error and each of its sources, `: `-separated, for one log field.
fn cause_chain(err: &dyn StdError) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(chain, ": {cause}");
        source = cause.source();
    }
    chain
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut body = Map::new();
        body.insert("code".to_owned(), json!(self.code()));
        body.insert("message".to_owned(), json!(self.public_message()));
        if let Self::Engine(EngineError::InvalidInput { field, .. }) = &self {
            body.insert("field".to_owned(), json!(field));
        }
        let retry_after = self.retry_after_secs();
        if let Some(secs) = retry_after {
            body.insert("retry_after".to_owned(), json!(secs));
        }
        let mut response =
            (self.status(), Json(json!({ "error": Value::Object(body) }))).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use std::time::Duration;

    async fn answer(err: impl Into<ApiError>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = err.into().into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn each_engine_error_gets_its_code_and_status() {
        let cases: Vec<(EngineError, StatusCode, &str)> = vec![
            (
                EngineError::invalid("to", "not a phone number"),
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
            ),
            (
                EngineError::not_found("message", "msg_1"),
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
            ),
            (
                EngineError::Conflict("provider slug mock already exists".into()),
                StatusCode::CONFLICT,
                "CONFLICT",
            ),
            (
                EngineError::NoProvider("no active provider".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                "NO_PROVIDER",
            ),
            (
                EngineError::RateLimited {
                    retry_after: Duration::from_secs(3),
                    reason: "the token's send rate".into(),
                },
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
            ),
            (
                EngineError::Unavailable("store down".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
            ),
            (
                EngineError::Internal("boom".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
            ),
        ];
        for (err, status, expected_code) in cases {
            assert_eq!(code(&err), expected_code);
            let (got_status, _, body) = answer(err).await;
            assert_eq!(got_status, status, "{expected_code}");
            assert_eq!(body["error"]["code"], expected_code);
            assert!(body["error"]["message"].is_string());
        }
    }

    #[tokio::test]
    async fn invalid_input_names_the_field() {
        let (_, _, body) = answer(EngineError::invalid("to", "not a phone number")).await;
        assert_eq!(
            body,
            json!({"error": {"code": "INVALID_INPUT", "message": "not a phone number", "field": "to"}})
        );
    }

    #[tokio::test]
    async fn rate_limited_says_when_to_come_back_rounded_up() {
        let (_, headers, body) = answer(EngineError::RateLimited {
            retry_after: Duration::from_millis(2100),
            reason: "the token's request rate".into(),
        })
        .await;
        assert_eq!(headers[header::RETRY_AFTER], "3");
        assert_eq!(body["error"]["retry_after"], 3);
    }

    #[tokio::test]
    async fn internal_and_unavailable_causes_are_never_sent() {
        for err in [
            EngineError::Internal("mongodb://user:pw@db-7 refused the query".into()),
            EngineError::Unavailable("mongodb://user:pw@db-7 is down".into()),
        ] {
            let (_, _, body) = answer(err).await;
            let text = body.to_string();
            assert!(!text.contains("db-7") && !text.contains("pw"), "{text}");
        }
    }

    #[tokio::test]
    async fn auth_failures_are_401_or_403_with_their_codes() {
        let (status, headers, body) = answer(AuthError::Missing).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");

        let (status, _, body) = answer(ApiError::Forbidden {
            allowed: &[Role::Admin],
        })
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(
            body["error"]["message"],
            "this needs one of the roles admin"
        );
    }

    #[test]
    fn the_cause_chain_lists_every_source() {
        let err = ApiError::from(EngineError::Internal("disk full".into()));
        assert_eq!(cause_chain(&err), "internal error: disk full");
    }
}
