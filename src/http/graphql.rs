//! GraphQL over HTTP: POST /graphql (bearer token required) and GET /graphql (GraphiQL).
//! /graphql/ws (graphql-transport-ws) is [`super::graphql_ws`].

use crate::http::{auth::Authenticated, AppState};
use async_graphql::{http::GraphiQLSource, ErrorExtensions};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    extract::State,
    response::{Html, IntoResponse},
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
