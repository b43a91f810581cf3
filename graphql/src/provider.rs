//! Providers in the API: the `providers` and `provider` queries and the `Provider` type, which
//! shows a provider's configuration and live health but never its credentials (only a hint).

use crate::{
    context::{engine, Permission, RoleGuard},
    error::IntoGraphql,
    scalars::DateTime,
};
use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use smsgate_actors::{domain, policy::breaker::CircuitState as EngineCircuit, ProviderView};

/// Which API a provider speaks.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Smso,
    Twilio,
    Vonage,
    /// A generic HTTP provider driven by a request template.
    Http,
    /// The built-in mock, for development and tests.
    Mock,
}

impl From<domain::ProviderKind> for ProviderKind {
    fn from(k: domain::ProviderKind) -> Self {
        match k {
            domain::ProviderKind::Smso => Self::Smso,
            domain::ProviderKind::Twilio => Self::Twilio,
            domain::ProviderKind::Vonage => Self::Vonage,
            domain::ProviderKind::Http => Self::Http,
            domain::ProviderKind::Mock => Self::Mock,
        }
    }
}

/// The provider's circuit breaker.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Healthy: messages go through.
    Closed,
    /// Cooling down is over: one probe message is let through to test it.
    HalfOpen,
    /// Too many recent failures: skipped until its cool-down ends.
    Open,
}

impl From<EngineCircuit> for CircuitState {
    fn from(c: EngineCircuit) -> Self {
        match c {
            EngineCircuit::Closed => Self::Closed,
            EngineCircuit::HalfOpen => Self::HalfOpen,
            EngineCircuit::Open => Self::Open,
        }
    }
}

/// A provider's health right now.
#[derive(SimpleObject)]
pub struct ProviderHealth {
    pub circuit: CircuitState,
    /// It reported insufficient credit: skipped until its balance is positive again.
    pub out_of_credit: bool,
    /// Failed calls in a row.
    pub consecutive_failures: u32,
    /// Its actor is running. An active provider that is not running could not be started
    /// (see the logs).
    pub running: bool,
    /// Calls to it in flight now.
    pub in_flight: u64,
}

/// An SMS provider smsgate sends through.
pub struct Provider(pub ProviderView);

#[Object]
impl Provider {
    /// smsgate's id of the provider (`prv_…`).
    async fn id(&self) -> ID {
        ID(self.0.config.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.config.name
    }

    /// Its short name, used to pin messages to it (`sendSms(input: {provider: …})`) and in
    /// statistics.
    async fn slug(&self) -> &str {
        &self.0.config.slug
    }

    async fn kind(&self) -> ProviderKind {
        self.0.config.kind.into()
    }

    /// Inactive providers are never sent through.
    async fn is_active(&self) -> bool {
        self.0.config.is_active
    }

    /// The default provider is tried first.
    async fn is_default(&self) -> bool {
        self.0.config.is_default
    }

    /// After the default, lower priorities are tried first.
    async fn priority(&self) -> i32 {
        self.0.config.priority
    }

    async fn features(&self) -> &[String] {
        &self.0.config.features
    }

    /// The sender ID used when a message names none.
    async fn sender_id(&self) -> Option<&str> {
        self.0.config.sender_id.as_deref()
    }

    async fn api_base_url(&self) -> Option<&str> {
        self.0.config.api_base_url.as_deref()
    }

    /// The last characters of its API key (such as `****3f9a`), to tell keys apart. The key
    /// itself is never returned.
    async fn api_key_hint(&self) -> Option<&str> {
        self.0.config.api_key_hint.as_deref()
    }

    async fn health(&self) -> ProviderHealth {
        let view = &self.0;
        ProviderHealth {
            circuit: view.health.circuit.into(),
            out_of_credit: view.health.out_of_credit,
            consecutive_failures: view.health.consecutive_failures,
            running: view.running,
            in_flight: u64::try_from(view.in_flight).unwrap_or(u64::MAX),
        }
    }

    /// Its credit in eurocents, as last read from the provider; null when unknown or unlimited.
    async fn balance(&self) -> Option<f64> {
        self.0.health.credit.map(|c| c.cents())
    }

    async fn created_at(&self) -> DateTime {
        self.0.config.created_at.into()
    }

    async fn updated_at(&self) -> DateTime {
        self.0.config.updated_at.into()
    }
}

#[derive(Default)]
pub struct ProviderQuery;

#[Object]
impl ProviderQuery {
    /// Every configured provider, active or not, with its health.
    #[graphql(guard = "RoleGuard::new(Permission::ReadProviders)")]
    async fn providers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Provider>> {
        let views = engine(ctx)?.providers().await.gql()?;
        Ok(views.into_iter().map(Provider).collect())
    }

    /// One provider, by id or by slug. An unknown one is a NOT_FOUND error.
    #[graphql(guard = "RoleGuard::new(Permission::ReadProviders)")]
    async fn provider(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Provider>> {
        let view = engine(ctx)?.provider(&id).await.gql()?;
        Ok(Some(Provider(view)))
    }
}
