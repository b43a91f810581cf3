//! Providers in the API: the `providers` and `provider` queries, the admin mutations
//! (`createProvider`, `updateProvider`, `activateProvider`, `deleteProvider`, `sendTestSms`,
//! `rotateWebhookSecret`) and the `Provider` type, which shows a provider's configuration and
//! live health but never its credentials (only a hint) nor, after the answer that made it, its
//! webhook secret.

use crate::{
    audit::{record, record_provider},
    context::{engine, Caller, Permission, RoleGuard},
    error::IntoGraphql,
    message::Message,
    scalars::DateTime,
};
use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, Object, SimpleObject, ID};
use smsgate_actors::{
    domain::{test_sms_snapshot, AuditAction},
    NewProvider, ProviderPatch, ProviderView,
};
use std::{sync::Arc, time::Duration};

/// How long `sendTestSms` waits for a final state before it answers with the message as it is.
const TEST_SMS_WAIT: Duration = Duration::from_secs(15);

/// Which API a provider speaks.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::domain::ProviderKind")]
pub enum ProviderKind {
    Smso,
    Twilio,
    Vonage,
    /// A generic HTTP provider driven by a request template.
    Http,
    /// The built-in mock, for development and tests.
    Mock,
}

/// The provider's circuit breaker.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "smsgate_actors::policy::breaker::CircuitState")]
pub enum CircuitState {
    /// Healthy: messages go through.
    Closed,
    /// Cooling down is over: one probe message is let through to test it.
    HalfOpen,
    /// Too many recent failures: skipped until its cool-down ends.
    Open,
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

/// An SMS provider smsgate sends through. Its webhook secret is shown only in the answer of
/// the mutation that made it (`createProvider`, `rotateWebhookSecret`).
pub struct Provider(pub ProviderView, Reveal);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reveal {
    Nothing,
    WebhookSecret,
}

impl Provider {
    pub fn new(view: ProviderView) -> Self {
        Self(view, Reveal::Nothing)
    }

    /// The provider as its creation or rotation answers it: with its webhook secret, once.
    fn with_webhook_secret(view: ProviderView) -> Self {
        Self(view, Reveal::WebhookSecret)
    }
}

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

    /// Whether its webhook path carries a secret (SMSO and Vonage providers; Twilio signs its
    /// callbacks instead). The secret itself is shown only once.
    async fn webhook_secret_set(&self) -> bool {
        self.0.config.webhook_secret.is_some()
    }

    /// The secret in its webhook path: only in the answer of `createProvider` and
    /// `rotateWebhookSecret`, null everywhere else. Keep it: it is never shown again.
    async fn webhook_secret(&self) -> Option<&str> {
        (self.1 == Reveal::WebhookSecret)
            .then_some(self.0.config.webhook_secret.as_deref())
            .flatten()
    }

    /// Where the provider's receipts go, after smsgate's public URL: `/webhooks/{kind}/{id}`,
    /// followed by `/{webhookSecret}` for a kind with a secret (then only when the secret is
    /// shown). smsgate hands this URL to the provider with each send when `public_url` is set.
    async fn webhook_path(&self) -> Option<String> {
        let config = &self.0.config;
        let shown = self.1 == Reveal::WebhookSecret || !config.kind.has_webhook_secret();
        shown.then(|| config.webhook_path()).flatten()
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
        let views = engine(ctx)?.configured_providers().await.gql()?;
        Ok(views.into_iter().map(Provider::new).collect())
    }

    /// One provider, by id or by slug. An unknown one is a NOT_FOUND error.
    #[graphql(guard = "RoleGuard::new(Permission::ReadProviders)")]
    async fn provider(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Provider>> {
        let view = engine(ctx)?.configured_provider(&id).await.gql()?;
        Ok(Some(Provider::new(view)))
    }
}

/// A provider to create.
#[derive(InputObject)]
pub struct ProviderInput {
    pub name: String,
    /// Its short name: 1 to 32 lower-case letters, digits or hyphens. It cannot change later.
    pub slug: String,
    pub kind: ProviderKind,
    pub api_base_url: Option<String>,
    /// The sender ID used when a message names none.
    pub sender_id: Option<String>,
    /// After the default, lower priorities are tried first.
    #[graphql(default = 100)]
    pub priority: i32,
    #[graphql(default = true)]
    pub is_active: bool,
    #[graphql(default)]
    pub features: Vec<String>,
    /// The provider's secrets, encrypted at rest and never returned: SMSO `{apiKey}`, Twilio
    /// `{accountSid, authToken}`, Vonage `{apiKey, apiSecret, signatureSecret?}`, MOCK none.
    pub credentials: Option<Json<serde_json::Value>>,
    /// Non-secret options: `max_concurrency`, `requests_per_second`, timeouts, the mock's behaviour.
    pub settings: Option<Json<serde_json::Value>>,
}

/// The fields to change; omitted fields stay as they are, `null` clears `apiBaseUrl` or
/// `senderId`.
#[derive(InputObject)]
pub struct ProviderUpdateInput {
    pub name: Option<String>,
    /// Changing the kind needs that kind's credentials.
    pub kind: Option<ProviderKind>,
    pub api_base_url: MaybeUndefined<String>,
    pub sender_id: MaybeUndefined<String>,
    pub priority: Option<i32>,
    pub is_active: Option<bool>,
    pub features: Option<Vec<String>>,
    /// Replaces the stored credentials as a whole.
    pub credentials: Option<Json<serde_json::Value>>,
    pub settings: Option<Json<serde_json::Value>>,
}

fn maybe(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Who made an admin change, for the log line.
fn who(ctx: &Context<'_>) -> String {
    ctx.data_opt::<Caller>()
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

#[derive(Default)]
pub struct ProviderMutation;

#[Object]
impl ProviderMutation {
    /// Adds a provider; an active one takes messages as soon as this returns. The first
    /// provider becomes the default. INVALID_INPUT names the field (`slug`, `kind`,
    /// `credentials.apiKey`, ...); a taken slug is a CONFLICT.
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn create_provider(
        &self,
        ctx: &Context<'_>,
        input: ProviderInput,
    ) -> async_graphql::Result<Provider> {
        tracing::info!(caller = %who(ctx), slug = %input.slug, "createProvider");
        let view = engine(ctx)?
            .create_provider(NewProvider {
                name: input.name,
                slug: input.slug,
                kind: Some(input.kind.into()),
                api_base_url: input.api_base_url,
                sender_id: input.sender_id,
                priority: input.priority,
                is_active: input.is_active,
                features: input.features,
                credentials: input.credentials.map(|j| j.0),
                settings: input.settings.map(|j| j.0),
            })
            .await
            .gql()?;
        record_provider(ctx, AuditAction::ProviderCreated, None, Some(&view.config)).await;
        Ok(Provider::with_webhook_secret(view))
    }

    /// Gives an SMSO or Vonage provider a new random secret in its webhook path and answers it
    /// (with `webhookPath`) this once. The old URL answers 404 from now on; sends hand the new
    /// one to the provider, but a URL set by hand at the provider must be replaced. INVALID_INPUT
    /// for a kind without one (Twilio signs its callbacks).
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Provider> {
        tracing::info!(caller = %who(ctx), provider_id = ?id.as_str(), "rotateWebhookSecret");
        let view = engine(ctx)?.rotate_webhook_secret(&id).await.gql()?;
        record(
            ctx,
            AuditAction::ProviderWebhookSecretRotated,
            Some(view.config.id.to_string()),
            None,
            None,
        )
        .await;
        Ok(Provider::with_webhook_secret(view))
    }

    /// Changes a provider; it is restarted with the new configuration before this returns.
    /// Calls in flight finish and their messages are not lost.
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn update_provider(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ProviderUpdateInput,
    ) -> async_graphql::Result<Provider> {
        tracing::info!(caller = %who(ctx), provider_id = %id.as_str(), "updateProvider");
        let before = engine(ctx)?.configured_provider(&id).await.gql()?.config;
        let view = engine(ctx)?
            .update_provider(
                &id,
                ProviderPatch {
                    name: input.name,
                    kind: input.kind.map(Into::into),
                    api_base_url: maybe(input.api_base_url),
                    sender_id: maybe(input.sender_id),
                    priority: input.priority,
                    is_active: input.is_active,
                    features: input.features,
                    credentials: input.credentials.map(|j| j.0),
                    settings: input.settings.map(|j| j.0),
                },
            )
            .await
            .gql()?;
        record_provider(
            ctx,
            AuditAction::ProviderUpdated,
            Some(&before),
            Some(&view.config),
        )
        .await;
        Ok(Provider::new(view))
    }

    /// Makes this provider the default (and active); the previous default stops being one in
    /// the same change, so there is always at most one.
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn activate_provider(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Provider> {
        tracing::info!(caller = %who(ctx), provider_id = %id.as_str(), "activateProvider");
        let before = engine(ctx)?.configured_provider(&id).await.gql()?.config;
        let view = engine(ctx)?.activate_provider(&id).await.gql()?;
        record_provider(
            ctx,
            AuditAction::ProviderActivated,
            Some(&before),
            Some(&view.config),
        )
        .await;
        Ok(Provider::new(view))
    }

    /// Removes a provider and stops it; returns its id. The default provider cannot be removed
    /// while others exist (CONFLICT): activate another first.
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn delete_provider(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        tracing::info!(caller = %who(ctx), provider_id = %id.as_str(), "deleteProvider");
        let deleted = engine(ctx)?.delete_provider(&id).await.gql()?;
        record_provider(ctx, AuditAction::ProviderDeleted, Some(&deleted), None).await;
        Ok(ID(deleted.id.to_string()))
    }

    /// Sends one message through this provider only (never failing over), waits up to 15
    /// seconds for a final state, and returns the message as it is then: DELIVERED, FAILED with
    /// its error, or still SENT when no receipt came in time.
    #[graphql(guard = "RoleGuard::new(Permission::ManageProviders)")]
    async fn send_test_sms(
        &self,
        ctx: &Context<'_>,
        provider_id: ID,
        to: String,
        body: String,
    ) -> async_graphql::Result<Message> {
        tracing::info!(caller = %who(ctx), provider_id = %provider_id.as_str(), "sendTestSms");
        let message = engine(ctx)?
            .send_test(&provider_id, &to, &body, TEST_SMS_WAIT)
            .await
            .gql()?;
        record(
            ctx,
            AuditAction::ProviderTestSms,
            Some(provider_id.to_string()),
            None,
            Some(test_sms_snapshot(&message)),
        )
        .await;
        Ok(Message(Arc::new(message)))
    }
}
