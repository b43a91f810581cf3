//! Layers shared by both listeners: the body limit (answered as JSON), request metrics and tracing.

use crate::http::{error::ApiError, AppState};
use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use smsgate_actors::EngineError;
use std::time::{Duration, Instant};
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};
use tracing::{field::Empty, Span};

/// `listener` names the listener in each request's span (`public` or `internal`).
pub fn apply(
    router: Router<AppState>,
    state: &AppState,
    listener: &'static str,
) -> Router<AppState> {
    // The last layer added is the outermost: the JSON mapping must see the limit's own 413.
    router
        .layer(RequestBodyLimitLayer::new(state.max_body_bytes))
        .layer(middleware::from_fn(json_payload_too_large))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request<Body>| request_span(listener, request))
                .on_request(())
                .on_response(answered)
                .on_failure(()),
        )
}

/// The span every event of a request is logged in: the route template (never the raw path,
/// which can hold a token or a provider id), the method, and once answered its status and
/// latency.
fn request_span(listener: &'static str, request: &Request<Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    tracing::info_span!(
        "request",
        listener,
        method = %request.method(),
        route,
        status = Empty,
        latency_ms = Empty,
    )
}

fn answered(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record(
        "latency_ms",
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    );
    tracing::debug!("answered");
}

/// The body limit answers 413 with a plain body; clients get the JSON error shape instead.
async fn json_payload_too_large(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        let mut json = ApiError::from(EngineError::invalid(
            "body",
            "the request body is larger than this server accepts",
        ))
        .into_response();
        *json.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return json;
    }
    response
}

/// Counts requests and their latency per route template (never the raw path: ids would make
/// the label unbounded).
async fn record(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .http_request(&route, response.status().as_u16(), started.elapsed());
    response
}
