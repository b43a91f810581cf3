//! The HTTP side: the two routers (public and internal), their shared layers, bearer-token
//! authentication and the REST error shape shared by every route.

pub mod auth;
pub mod dto;
pub mod error;
pub mod graphql;
pub mod health;
pub mod internal;
pub mod layers;
pub mod state;
pub mod webhooks;

pub use state::AppState;

use axum::{
    middleware,
    routing::{get, post},
    Router,
};

/// GraphQL, GraphiQL, the WebSocket endpoint, provider webhooks, health and metrics: what the
/// internet may reach.
pub fn public_router(state: AppState) -> Router {
    let graphql = Router::new()
        .route("/graphql", post(graphql::execute).get(graphql::graphiql))
        .route("/graphql/ws", get(graphql::websocket));
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    let webhooks = Router::new()
        .route("/webhooks/twilio/{provider_id}", post(webhooks::twilio))
        .route(
            "/webhooks/vonage/{provider_id}",
            post(webhooks::vonage).get(webhooks::vonage),
        )
        .route("/webhooks/smso/{provider_id}", post(webhooks::smso));
    layers::apply(graphql.merge(ops).merge(webhooks), &state).with_state(state)
}

/// `/internal/sms/*`: for services on the same host or private network, never the public one.
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
        .route("/readyz", get(health::readyz));
    layers::apply(routes.merge(ops), &state).with_state(state)
}
