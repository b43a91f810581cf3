//! GraphQL over HTTP: POST /graphql (bearer token required), GET /graphql (GraphiQL), and
//! /graphql/ws (graphql-transport-ws; the token travels in `connection_init`).

use crate::http::{auth::Authenticated, AppState};
use async_graphql::{
    http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS},
    ErrorExtensions,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade},
    response::{Html, IntoResponse, Response},
};

/// Runs one request as the caller. Over its token's rate, the answer is a GraphQL error with
/// code RATE_LIMITED and `retryAfter` (still HTTP 200, as every GraphQL answer), and nothing runs.
pub async fn execute(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    request: GraphQLRequest,
) -> GraphQLResponse {
    if let Err(retry_after) = state.verifier.admit(&caller) {
        let error = smsgate_graphql::ApiError::RateLimited {
            retry_after,
            reason: crate::http::auth::REQUEST_RATE.to_owned(),
        }
        .extend()
        .into_server_error(async_graphql::Pos::default());
        return async_graphql::Response::from_errors(vec![error]).into();
    }
    state
        .schema
        .execute(request.into_inner().data(caller))
        .await
        .into()
}

pub async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

pub async fn websocket(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let verifier = state.verifier.clone();
            GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    // Verified here, asynchronously (named tokens are in the store); the schema
                    // crate's helper then puts the caller, or the refusal, in place.
                    let caller = match smsgate_graphql::init_token(&payload) {
                        Some(token) => verifier.verify(token).await.ok(),
                        None => None,
                    };
                    smsgate_graphql::caller_from_init(&payload, move |_| caller.clone())
                })
                .serve()
        })
}
