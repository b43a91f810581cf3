//! Bearer-token authentication: who is calling (`Caller`), found by comparing the presented
//! token with the configured (bootstrap) ones in constant time, then among the named tokens of
//! the [`AccessStore`]; a 401 JSON body when no token matches or the token was revoked.
//!
//! Named tokens are looked up in the store by digest at every request, with no cache: a token
//! revoked by `smsgate tokens revoke` (another process, writing the same store) is refused from
//! the next request on, with no restart and no invalidation message to miss. The lookup is one
//! indexed read of a 32-byte key, small beside the request it guards.
//!
//! Use the `Authenticated` extractor in a handler, or the [`require_caller`] middleware in front of a
//! whole router (it verifies once and leaves the `Caller` in the request's extensions, where the
//! extractor picks it up). Both need `Arc<TokenVerifier>` reachable from the router's state.

use super::{
    auth_failures::AuthFailures,
    error::{ApiError, AuthError},
};
use crate::{
    access::{digest, AccessStore},
    config::Settings,
    rate_limit::RateLimits,
    secrets::SecretString,
};
use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap},
    middleware::Next,
    response::Response,
};
use smsgate_actors::EngineError;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};
use subtle::ConstantTimeEq;

pub use smsgate_actors::domain::{Caller, Role};

/// The authenticated caller, as an axum extractor: the `Caller` type itself belongs to the
/// GraphQL crate (the schema's guards read it), so the extractor is this local wrapper.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

/// The authenticated caller, within its token's request rate: REST routes take this one, so a
/// caller over its rate gets 429 with `Retry-After` before the handler runs.
#[derive(Debug, Clone)]
pub struct Limited(pub Caller);

impl<S> FromRequestParts<S> for Limited
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        verifier.admit(&caller).map_err(|retry_after| {
            ApiError::Engine(EngineError::RateLimited {
                retry_after,
                reason: REQUEST_RATE.to_owned(),
            })
        })?;
        Ok(Limited(caller))
    }
}

/// The reason a request over its token's request rate is refused.
pub const REQUEST_RATE: &str = "the token's request rate";

/// Refuses (FORBIDDEN) unless the caller's role is one of `allowed`.
pub fn require(caller: &Caller, allowed: &'static [Role]) -> Result<(), ApiError> {
    if allowed.contains(&caller.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden { allowed })
    }
}

/// The known tokens, kept only as SHA-256 digests. Comparing digests of equal length in constant
/// time means neither the bytes nor the length of a token can be learnt from response timings.
pub struct TokenVerifier {
    known: Vec<([u8; 32], Caller)>,
    /// The named tokens (`smsgate tokens create`); `None` accepts only the bootstrap tokens.
    store: Option<Arc<dyn AccessStore>>,
    /// Per-token request limits, checked by [`Limited`] and the GraphQL endpoint.
    limits: Option<Arc<RateLimits>>,
    /// Failed authentications per client address; `None`: not limited.
    failures: Option<Arc<AuthFailures>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let callers: Vec<&Caller> = self.known.iter().map(|(_, caller)| caller).collect();
        f.debug_struct("TokenVerifier")
            .field("callers", &callers)
            .finish()
    }
}

impl TokenVerifier {
    /// Accepts the admin and the service token, each when given.
    pub fn new(admin: Option<&SecretString>, service: Option<&SecretString>) -> Self {
        let verifier = Self {
            known: Vec::new(),
            store: None,
            limits: None,
            failures: None,
        };
        let verifier = match admin {
            Some(token) => verifier.with_token(token, Role::Admin, "admin"),
            None => verifier,
        };
        match service {
            Some(token) => verifier.with_token(token, Role::Service, "service"),
            None => verifier,
        }
    }

    /// From the configured `admin_token` and `service_token`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.admin_token.as_ref(),
            settings.service_token.as_ref(),
        )
    }

    /// Accepts one more token, for `role`, logged as `name`.
    pub fn with_token(mut self, token: &SecretString, role: Role, name: &str) -> Self {
        self.known.push((
            digest(token.expose()),
            Caller {
                role,
                name: name.to_owned(),
            },
        ));
        self
    }

    /// Also accepts the live (not revoked) named tokens of `store`.
    pub fn with_store(mut self, store: Arc<dyn AccessStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Limits each caller's requests per second.
    pub fn with_limits(mut self, limits: Arc<RateLimits>) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Refuses a client address for a while after too many failed authentications from it.
    pub fn with_failure_limit(mut self, failures: Arc<AuthFailures>) -> Self {
        self.failures = Some(failures);
        self
    }

    /// Whether `client` may try to authenticate now: Ok, or how long until it may. A client
    /// with no known address (a test calling the router directly) is not limited.
    pub fn check_client(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        match (&self.failures, client) {
            (Some(failures), Some(client)) => failures.check(client, Instant::now()),
            _ => Ok(()),
        }
    }

    /// Counts a refused token against `client`; a store that could not be read is not the
    /// client's failure.
    pub fn failed_from(&self, client: Option<IpAddr>, reason: AuthError) {
        if let (Some(failures), Some(client), false) =
            (&self.failures, client, reason == AuthError::Unavailable)
        {
            failures.failed(client, Instant::now());
        }
    }

    /// One request by `caller`: Ok, or how long to wait.
    pub fn admit(&self, caller: &Caller) -> Result<(), std::time::Duration> {
        match &self.limits {
            Some(limits) => limits.check_token(&caller.name),
            None => Ok(()),
        }
    }

    /// The caller this token belongs to. Every bootstrap token is compared, matched or not, so
    /// the time taken does not depend on which one matched. A named token is found by its
    /// digest (an index lookup: its timing can only tell about the digest, from which the token
    /// cannot be recovered) and the digest compared again in constant time.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let presented = digest(token);
        let mut found = None;
        for (known, caller) in &self.known {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(caller);
            }
        }
        if let Some(caller) = found {
            return Ok(caller.clone());
        }
        let Some(store) = &self.store else {
            return Err(AuthError::Invalid);
        };
        match store.token_by_digest(&presented).await {
            Ok(Some(stored)) if bool::from(stored.digest.ct_eq(&presented)) => {
                if stored.revoked_at.is_some() {
                    return Err(AuthError::Revoked);
                }
                Ok(Caller {
                    role: stored.role,
                    name: stored.name,
                })
            }
            Ok(_) => Err(AuthError::Invalid),
            Err(err) => {
                tracing::warn!(error.message = %err, "cannot read the token store");
                Err(AuthError::Unavailable)
            }
        }
    }

    /// Reads `Authorization: Bearer <token>` and verifies it.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        // RFC 7235: the scheme is case-insensitive.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Malformed);
        }
        self.verify(token).await
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Authenticated(caller.clone()));
        }
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        verify_logged(&verifier, &parts.headers, client_ip(&parts.extensions))
            .await
            .map(Authenticated)
    }
}

/// The peer's address, which the server puts in every request (`ConnectInfo`).
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The bearer token of `headers`, within `client`'s failed-authentication allowance; a
/// refusal is logged and counted against the address.
pub(crate) async fn verify_logged(
    verifier: &TokenVerifier,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    verifier.check_client(client).map_err(|retry_after| {
        ApiError::Engine(EngineError::RateLimited {
            retry_after,
            reason: "too many failed authentications from this address".to_owned(),
        })
    })?;
    verifier.verify_headers(headers).await.map_err(|reason| {
        // Never the token: only why it was refused.
        tracing::info!(reason = %reason, "unauthenticated request");
        verifier.failed_from(client, reason);
        ApiError::from(reason)
    })
}

/// Middleware: refuses the request with a 401 unless it carries a known token, and hands the
/// `Caller` on in the request's extensions. Use with `axum::middleware::from_fn_with_state`.
pub async fn require_caller(
    State(verifier): State<Arc<TokenVerifier>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = client_ip(request.extensions());
    let caller = verify_logged(&verifier, request.headers(), client).await?;
    tracing::debug!(caller = %caller.name, role = caller.role.as_str(), "authenticated");
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{
        body::{to_bytes, Body},
        http::StatusCode,
        middleware,
        routing::get,
        Extension, Router,
    };
    use serde_json::Value;
    use tower::ServiceExt;

    const ADMIN: &str = "admin-token-0123456789";
    const SERVICE: &str = "service-token-0123456789";

    fn verifier() -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::new(
            Some(&SecretString::new(ADMIN)),
            Some(&SecretString::new(SERVICE)),
        ))
    }

    /// A route that echoes who called, through the extractor.
    fn extractor_app() -> Router {
        Router::new()
            .route(
                "/whoami",
                get(|Authenticated(caller): Authenticated| async move {
                    format!("{}:{}", caller.role.as_str(), caller.name)
                }),
            )
            .route(
                "/admin-only",
                get(|Authenticated(caller): Authenticated| async move {
                    require(&caller, &[Role::Admin])?;
                    Ok::<_, ApiError>("ok")
                }),
            )
            .with_state(verifier())
    }

    async fn call(app: Router, path: &str, authorization: Option<&str>) -> (StatusCode, String) {
        let mut request = axum::http::Request::get(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn error_code(body: &str) -> String {
        let value: Value = serde_json::from_str(body).unwrap();
        value["error"]["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn each_configured_token_is_its_role() {
        let (status, body) =
            call(extractor_app(), "/whoami", Some(&format!("Bearer {ADMIN}"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "admin:admin"));
        let (status, body) = call(
            extractor_app(),
            "/whoami",
            Some(&format!("bearer {SERVICE}")),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "service:service"));
    }

    #[tokio::test]
    async fn missing_malformed_or_wrong_tokens_get_a_401_json_body() {
        let wrong = format!("Bearer {ADMIN}x");
        let basic = format!("Basic {ADMIN}");
        for (authorization, message) in [
            (None, "missing bearer token"),
            (Some(wrong.as_str()), "invalid token"),
            (Some(basic.as_str()), "malformed Authorization header"),
            (Some("Bearer "), "malformed Authorization header"),
        ] {
            let (status, body) = call(extractor_app(), "/whoami", authorization).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
            assert_eq!(error_code(&body), "UNAUTHENTICATED");
            assert!(body.contains(message), "{authorization:?}: {body}");
            assert!(!body.contains(ADMIN), "the token was echoed: {body}");
        }
    }

    #[tokio::test]
    async fn a_valid_token_of_the_wrong_role_is_forbidden() {
        let (status, body) = call(
            extractor_app(),
            "/admin-only",
            Some(&format!("Bearer {SERVICE}")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error_code(&body), "FORBIDDEN");
        let (status, _) = call(
            extractor_app(),
            "/admin-only",
            Some(&format!("Bearer {ADMIN}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn with_no_tokens_configured_nobody_gets_in() {
        let app = Router::new()
            .route("/whoami", get(|_: Authenticated| async { "in" }))
            .with_state(Arc::new(TokenVerifier::new(None, None)));
        let (status, _) = call(app, "/whoami", Some("Bearer anything")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_middleware_guards_a_whole_router_and_passes_the_caller_on() {
        let verifier = verifier();
        let app = Router::new()
            .route(
                "/a",
                get(|Extension(caller): Extension<Caller>| async move { caller.name }),
            )
            .layer(middleware::from_fn_with_state(
                Arc::clone(&verifier),
                require_caller,
            ));
        let (status, body) = call(app.clone(), "/a", Some(&format!("Bearer {SERVICE}"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "service"));
        let (status, body) = call(app, "/a", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }

    #[test]
    fn debug_never_shows_the_tokens() {
        let shown = format!("{:?}", verifier());
        assert!(!shown.contains(ADMIN) && !shown.contains(SERVICE));
        assert!(shown.contains("admin") && shown.contains("service"));
    }
}
