//! AppState: what every route handler can reach.

use crate::{
    audit::AuditLog, config::GuardSettings, http::auth::TokenVerifier,
    http::graphql_ws::Connections, metrics::Metrics, rate_limit::RateLimits, secrets::Keyring,
};
use axum::extract::FromRef;
use smsgate_actors::Engine;
use smsgate_graphql::SmsSchema;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub schema: SmsSchema,
    pub verifier: Arc<TokenVerifier>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    /// Opens a provider's credentials to check a webhook's signature.
    pub keyring: Arc<Keyring>,
    /// smsgate's public address, the URL Twilio signs (a provider's `public_url` wins).
    pub public_url: Option<String>,
    /// Where the REST admin routes record what they change.
    pub audit: AuditLog,
    /// Per-recipient limits for the REST send (GraphQL gets them through the schema data).
    pub limits: Arc<RateLimits>,
    /// Timeouts and the `/graphql/ws` limits.
    pub guards: GuardSettings,
    /// Open `/graphql/ws` connections per token.
    pub ws_connections: Arc<Connections>,
    /// The webhook routes' rate limits and signature policy.
    pub webhooks: Arc<crate::http::webhooks::WebhookGuard>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
