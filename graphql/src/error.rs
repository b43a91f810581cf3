//! The API's error contract: `ApiError` and its `extensions.code`, mapped once from the engine's
//! kinds, plus the schema extension that gives a code to the errors async-graphql makes itself.
//!
//! Every error a client sees carries `extensions.code`, one of [`CODES`]. `INVALID_INPUT` carries
//! `field` when the offending input field is known, `RATE_LIMITED` carries `retryAfter` (seconds).
//! An `INTERNAL` error says nothing but "internal error": its cause is logged, never returned.

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe},
    ErrorExtensions, Response, ServerError, Value,
};
use futures::{stream::BoxStream, StreamExt};
use smsgate_actors::EngineError;
use std::{sync::Arc, time::Duration};

/// Every value `extensions.code` can take.
pub const CODES: [&str; 9] = [
    "INVALID_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "RATE_LIMITED",
    "NO_PROVIDER",
    "UNAVAILABLE",
    "INTERNAL",
];

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error as the API reports it. Convert it with [`ErrorExtensions::extend`] (or
/// [`IntoGraphql::gql`]) so that it keeps its code: a plain `?` into `async_graphql::Error`
/// would drop it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was refused because of one input field; nothing happened.
    #[error("{field}: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("authentication required: send a bearer token")]
    Unauthenticated,
    #[error("your role may not {action}")]
    Forbidden { action: &'static str },
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// `reason` names the limit (the token's request or send rate, its daily spend, the
    /// recipient's allowance), never whose number.
    #[error("rate limited ({reason}); retry after {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// No active provider can take the message.
    #[error("{0}")]
    NoProvider(String),
    /// Not accepted, safe to retry.
    #[error("temporarily unavailable; nothing was done, it is safe to retry")]
    Unavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::NoProvider(_) => "NO_PROVIDER",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

/// Whole seconds, rounded up, and never 0: "retry after 0 s" invites a busy loop.
fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::InvalidInput { field, reason } => Self::InvalidInput {
                field: field.to_owned(),
                reason,
            },
            EngineError::NotFound { what, id } => Self::NotFound { what, id },
            EngineError::Conflict(reason) => Self::Conflict(reason),
            EngineError::NoProvider(reason) => Self::NoProvider(reason),
            EngineError::RateLimited {
                retry_after,
                reason,
            } => Self::RateLimited {
                retry_after,
                reason,
            },
            EngineError::Unavailable(cause) => Self::Unavailable(cause),
            EngineError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// The causes of an error, outermost first, for the log.
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    chain.join(": ")
}

impl ErrorExtensions for ApiError {
    /// Builds the GraphQL error. The two errors with a hidden cause are logged here, once, as
    /// each is returned to a client.
    fn extend(&self) -> async_graphql::Error {
        match self {
            Self::Unavailable(_) => tracing::warn!(
                error.message = %self,
                error.cause_chain = %cause_chain(self),
                "request not accepted"
            ),
            Self::Internal(_) => tracing::error!(
                error.message = %self,
                error.cause_chain = %cause_chain(self),
                "internal error"
            ),
            _ => {}
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                Self::InvalidInput { field, .. } => ext.set("field", field.as_str()),
                Self::RateLimited { retry_after, .. } => {
                    ext.set("retryAfter", retry_after_secs(*retry_after))
                }
                _ => {}
            }
        })
    }
}

/// Turns a result whose error is an API or engine error into a resolver result that keeps the
/// error's code.
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> IntoGraphql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().extend())
    }
}

/// Schema extension that gives every error without a code one: errors of the request itself
/// (syntax, validation, limits, input values async-graphql could not coerce) become
/// `INVALID_INPUT`; anything else without a code is a bug of ours and becomes a bare `INTERNAL`.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        add_codes(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                add_codes(&mut response);
                response
            })
            .boxed()
    }
}

fn add_codes(response: &mut Response) {
    for error in &mut response.errors {
        add_code(error);
    }
}

fn add_code(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
    {
        return;
    }
    let ext = error.extensions.get_or_insert_with(Default::default);
    if is_input_error(error.path.is_empty(), &error.message) {
        ext.set("code", "INVALID_INPUT");
        if let Some(field) = named_input(&error.message) {
            ext.set("field", Value::from(field));
        }
    } else {
        tracing::error!(
            error.message = %error.message,
            path = ?error.path,
            "an error without a code reached the API"
        );
        ext.set("code", "INTERNAL");
        error.message = "internal error".to_owned();
    }
}

/// Errors outside any field are about the request (parse, validation, variables, limits);
/// inside a field, async-graphql's own errors there are argument values it could not coerce.
fn is_input_error(outside_fields: bool, message: &str) -> bool {
    outside_fields
        || message.starts_with("Failed to parse")
        || message.starts_with("Invalid value")
        || message.starts_with("Expected input type")
}

/// The argument or variable async-graphql names in its message, such as
/// `Invalid value for argument "filter.status", …` or `Variable "$first" …`.
fn named_input(message: &str) -> Option<String> {
    for marker in ["argument \"", "Variable \"$", "variable \"$", "field \""] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            if let Some(end) = rest.find('"') {
                let path = &rest[..end];
                // The innermost name is the field a client must fix.
                let field = path.rsplit('.').next().unwrap_or(path);
                if !field.is_empty() {
                    return Some(field.to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn code_of(err: ApiError) -> (String, serde_json::Value) {
        let gql = err.extend();
        let ext = serde_json::to_value(&gql.extensions).unwrap();
        (gql.message, ext)
    }

    #[test]
    fn every_engine_kind_has_its_contract_code() {
        let cases: Vec<(EngineError, &str)> = vec![
            (EngineError::invalid("to", "bad"), "INVALID_INPUT"),
            (EngineError::not_found("message", "msg_x"), "NOT_FOUND"),
            (EngineError::Conflict("key".into()), "CONFLICT"),
            (EngineError::NoProvider("none".into()), "NO_PROVIDER"),
            (
                EngineError::RateLimited {
                    retry_after: Duration::from_secs(3),
                    reason: "the token's send rate".into(),
                },
                "RATE_LIMITED",
            ),
            (EngineError::Unavailable("down".into()), "UNAVAILABLE"),
            (EngineError::Internal("boom".into()), "INTERNAL"),
        ];
        for (engine, code) in cases {
            let (_, ext) = code_of(engine.into());
            assert_eq!(ext["code"], code);
            assert!(CODES.contains(&code));
        }
    }

    #[test]
    fn invalid_input_names_its_field() {
        let (_, ext) = code_of(EngineError::invalid("body", "must not be empty").into());
        assert_eq!(ext["field"], "body");
    }

    #[test]
    fn rate_limited_says_when_to_retry_in_whole_seconds() {
        let (message, ext) = code_of(ApiError::RateLimited {
            retry_after: Duration::from_millis(2_100),
            reason: "the token's request rate".into(),
        });
        assert_eq!(
            message,
            "rate limited (the token's request rate); retry after 3 s"
        );
        assert_eq!(ext["retryAfter"], 3);
        let (_, ext) = code_of(ApiError::RateLimited {
            retry_after: Duration::ZERO,
            reason: "the token's request rate".into(),
        });
        assert_eq!(ext["retryAfter"], 1);
    }

    #[test]
    fn an_internal_error_never_shows_its_cause() {
        let (message, _) = code_of(ApiError::Internal(
            "password=hunter2 in the connection string".into(),
        ));
        assert_eq!(message, "internal error");
        let (message, _) = code_of(ApiError::Unavailable("mongodb://user:pw@db".into()));
        assert!(!message.contains("pw"), "{message}");
    }

    #[test]
    fn async_graphql_messages_name_the_input_to_fix() {
        assert_eq!(
            named_input(
                r#"Invalid value for argument "filter.status", enumeration type "MessageStatus" does not contain the value "LOST""#
            ),
            Some("status".to_owned())
        );
        assert_eq!(
            named_input(r#"Variable "$first" got invalid value"#),
            Some("first".to_owned())
        );
        assert_eq!(named_input("Unexpected end of input"), None);
    }

    #[test]
    fn codeless_errors_get_a_code_and_internal_ones_say_nothing() {
        let mut request_error = ServerError::new("Unknown field \"nope\"", None);
        add_code(&mut request_error);
        assert_eq!(
            request_error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code")),
            Some(&Value::from("INVALID_INPUT"))
        );

        let mut bug = ServerError::new("Data `Engine` does not exist.", None);
        bug.path = vec![async_graphql::PathSegment::Field("message".into())];
        add_code(&mut bug);
        assert_eq!(bug.message, "internal error");
        assert_eq!(
            bug.extensions.as_ref().and_then(|e| e.get("code")),
            Some(&Value::from("INTERNAL"))
        );
    }
}
