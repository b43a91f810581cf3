//! The HTTP side: the two routers (public and internal), their shared layers, bearer-token
//! authentication and the REST error shape shared by every route.

pub mod admin;
pub mod admin_alerts;
pub mod admin_audit;
pub mod admin_dto;
pub mod auth;
pub mod auth_failures;
pub mod dto;
pub mod error;
pub mod graphql;
pub mod graphql_ws;
pub mod health;
pub mod internal;
pub mod layers;
pub mod openapi;
pub mod serve;
pub mod state;
pub mod webhooks;

pub use state::AppState;

use axum::{
    middleware,
    routing::{get, post},
    Router,
};

/// GraphQL, GraphiQL, the WebSocket endpoint, the seed's admin REST routes, provider webhooks,
/// health and the OpenAPI document: what the internet may reach.
pub fn public_router(state: AppState) -> Router {
    let graphql = Router::new()
        .route("/graphql", post(graphql::execute).get(graphql::graphiql))
        .route("/graphql/ws", get(graphql_ws::websocket));
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::document));
    // The seed's admin routes; each handler checks the caller's role (admin writes, admin and
    // viewer read), the extractor the token.
    let admin = Router::new()
        .route("/api/admin/sms/providers", get(admin::list_providers))
        .route(
            "/api/admin/sms/providers/{id}",
            get(admin::show_provider).put(admin::update_provider),
        )
        .route(
            "/api/admin/sms/providers/{id}/activate",
            post(admin::activate_provider),
        )
        .route(
            "/api/admin/sms/providers/{id}/test",
            post(admin::test_provider),
        )
        .route("/api/admin/sms/statistics", get(admin::statistics))
        .route("/api/admin/sms/logs", get(admin::logs))
        .route("/api/admin/sms/alerts", get(admin_alerts::alerts))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admin_audit::rest_gate,
        ));
    let webhooks = webhooks::routes();
    let routes = graphql.merge(ops).merge(admin).merge(webhooks);
    with_timeout(layers::apply(routes, &state, "public"), &state).with_state(state)
}

/// `/internal/sms/*` and `/metrics`: for services and scrapers on the same host or private
/// network, never the public one (the metrics tell the traffic, providers and spend).
pub fn internal_router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/internal/sms/send", post(internal::send))
        .route("/internal/sms/status/{token}", get(internal::status))
        .route("/internal/sms/balance", get(internal::balance))
        .route_layer(middleware::from_fn_with_state(
            state.verifier.clone(),
            auth::require_caller,
        ));
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    with_timeout(layers::apply(routes.merge(ops), &state, "internal"), &state).with_state(state)
}

/// The request timeout, outermost, so a slow body or a slow handler is answered 408 in time.
fn with_timeout(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router.layer(middleware::from_fn_with_state(
        state.guards.request_timeout(),
        serve::request_timeout,
    ))
}
