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
use std::time::Instant;
use tower_http::limit::RequestBodyLimitLayer;

pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    // The last layer added is the outermost: the JSON mapping must see the limit's own 413.
    router
        .layer(RequestBodyLimitLayer::new(state.max_body_bytes))
        .layer(middleware::from_fn(json_payload_too_large))
        .layer(middleware::from_fn_with_state(state.clone(), record))
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
