//! The composition root: `Application::build` wires settings, store, providers, engine, schema
//! and both listeners; `run_until_stopped` serves until a shutdown signal, then drains.

use crate::{
    audit::AuditLog,
    config::{Mode, Settings},
    http::{
        self, auth::TokenVerifier, auth_failures::AuthFailures, graphql_ws::Connections,
        serve::serve, AppState,
    },
    metrics::Metrics,
    providers::Factory,
    rate_limit::RateLimits,
    store::{mongo::Change, MongoStore},
};
use anyhow::Context;
use smsgate_actors::{
    domain::ProviderConfig, ports::StoreError, Engine, EngineConfig, EngineDeps, NewProvider,
};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;

mod dev;

pub use dev::keyring;
use dev::{dev_exposed, dev_mock, token_or_generate};

/// How long open connections (WebSocket subscribers, say) get to close after the engine drained.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

pub struct Application {
    engine: Engine,
    public: TcpListener,
    internal: TcpListener,
    state: AppState,
    grace: Duration,
    banner: Vec<String>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let crate::store::OpenedStores {
            store,
            access,
            audit,
            line: store_line,
            alert_log,
            shared,
        } = crate::store::open_store(&settings).await?;
        let mut banner = vec![store_line];
        let configured = store
            .providers()
            .await
            .context("could not read the providers from the store")?;
        // Providers declared in the file count: they are created once the engine runs.
        let declared_active = settings
            .providers
            .iter()
            .any(|p| p.is_active && !configured.iter().any(|c| c.slug == p.slug));
        if !configured.iter().any(|p| p.is_active) && !declared_active {
            match settings.mode {
                Mode::Prod => anyhow::bail!(
                    "no active provider is configured; add one before starting in prod mode"
                ),
                Mode::Dev if configured.is_empty() && settings.providers.is_empty() => {
                    match store.insert_provider(&dev_mock()).await {
                        Ok(()) => banner
                            .push("dev mode: configured the mock provider as the default".into()),
                        // Another instance on the same database configured it first.
                        Err(StoreError::Conflict(_)) => {}
                        Err(err) => {
                            return Err(err).context("could not configure the dev mock provider")
                        }
                    }
                }
                Mode::Dev => {}
            }
        }

        let (admin, admin_generated) = token_or_generate(settings.admin_token.as_ref(), "admin");
        let (service, service_generated) =
            token_or_generate(settings.service_token.as_ref(), "service");
        if admin_generated || service_generated {
            banner.push("dev mode: generated tokens (set SMSGATE_ADMIN_TOKEN / SMSGATE_SERVICE_TOKEN to choose them):".into());
            if admin_generated {
                banner.push(format!("  admin token:   {}", admin.expose()));
            }
            if service_generated {
                banner.push(format!("  service token: {}", service.expose()));
            }
        }
        let keyring = Arc::new(keyring(&settings, &mut banner)?);
        let unreadable = crate::secrets::unreadable_secrets(&keyring, &configured);
        if !unreadable.is_empty() {
            let line = format!(
                "the configured encryption keys cannot decrypt the stored secrets of {}: SMSGATE_ENCRYPTION_KEYS is wrong or lacks the key they were made with",
                unreadable.join(", ")
            );
            match settings.mode {
                Mode::Prod => anyhow::bail!(line),
                // Dev goes on: those providers fail to start and say so; the rest work.
                Mode::Dev => {
                    tracing::warn!(providers = %unreadable.join(","), "stored secrets cannot be decrypted");
                    banner.push(format!("warning: {line}"));
                }
            }
        }

        let metrics = Arc::new(Metrics::new().context("could not register the metrics")?);
        let limits = Arc::new(
            match &shared {
                // Several instances may share the database: so do their limits.
                Some(mongo) => RateLimits::new(settings.limits, metrics.registry())
                    .map(|limits| limits.with_shared(Arc::new(mongo.clone()))),
                None => RateLimits::new(settings.limits, metrics.registry()),
            }
            .context("could not register the rate-limit metrics")?,
        );
        let failures = AuthFailures::new(
            settings.guards.auth_failures_per_minute,
            limits.refused_counter("auth"),
        );
        let verifier = Arc::new(
            TokenVerifier::new(Some(&admin), Some(&service))
                .with_store(access.clone())
                .with_limits(limits.clone())
                .with_failure_limit(Arc::new(failures)),
        );
        let engine = Engine::start(EngineDeps {
            store,
            providers: Arc::new(
                Factory::new(keyring.clone())
                    .with_public_url(settings.public_url.clone())
                    .with_outbound(settings.outbound.clone()),
            ),
            metrics: metrics.clone(),
            sealer: keyring.clone(),
            limiter: Some(limits.clone()),
            config: EngineConfig {
                max_attempts: settings.max_attempts,
                retry_base: settings.retry_base(),
                retry_max: settings.retry_max(),
                max_segments: settings.max_segments,
                ..EngineConfig::default()
            },
        })
        .await
        .context("the engine did not start")?;
        engine
            .start_alerts(crate::alerts::setup(&settings.alerts, alert_log, &metrics)?)
            .await
            .context("the alerts did not start")?;
        banner.push(settings.alerts.summary());
        if let Some(shared) = shared {
            relay_changes(&shared, &engine);
        }
        seed_declared_providers(&engine, &settings, &configured, &mut banner).await?;
        let providers = engine.providers().await?;
        banner.push(format!(
            "providers: {}",
            if providers.is_empty() {
                "none active".to_owned()
            } else {
                providers
                    .iter()
                    .map(|p| {
                        format!(
                            "{} ({}{})",
                            p.config.slug,
                            p.config.kind.as_str(),
                            if p.config.is_default { ", default" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));

        if let Some(line) = dev_exposed(&settings) {
            tracing::warn!("{line}");
            banner.push(format!("warning: {line}"));
        }
        let public = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("could not listen on {}", settings.listen))?;
        let internal = TcpListener::bind(settings.internal_listen)
            .await
            .with_context(|| format!("could not listen on {}", settings.internal_listen))?;
        let audit = AuditLog::new(audit);
        let audit_port: Arc<dyn smsgate_actors::ports::AuditPort> = Arc::new(audit.clone());
        let state = AppState {
            schema: smsgate_graphql::schema_builder_with(engine.clone(), settings.root_fields)
                .data(audit_port)
                .extension(crate::metrics::GraphqlOperations::new(metrics.clone()))
                .extension(http::admin_audit::AdminAudit::new(audit.clone()))
                .finish(),
            engine: engine.clone(),
            verifier,
            metrics,
            max_body_bytes: settings.max_body_bytes,
            keyring,
            public_url: settings.public_url.clone(),
            audit,
            limits,
            guards: settings.guards,
            webhooks: Arc::new(http::webhooks::WebhookGuard::new(
                settings.webhook_limits,
                settings.mode == Mode::Prod,
            )),
            ws_connections: Arc::new(Connections::new(
                settings.guards.ws_max_connections_per_token,
            )),
        };
        let (p, i) = (addr(&public), addr(&internal));
        banner.insert(
            0,
            format!("smsgate listening on http://{p} (GraphQL and GraphiQL at /graphql) and http://{i} (internal)"),
        );
        Ok(Application {
            engine,
            public,
            internal,
            state,
            grace: settings.shutdown_grace(),
            banner,
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        addr(&self.public)
    }

    pub fn internal_addr(&self) -> SocketAddr {
        addr(&self.internal)
    }

    /// What an operator needs to know at start: where, which store, which providers, tokens.
    pub fn banner(&self) -> &[String] {
        &self.banner
    }

    /// Serves both listeners until `shutdown` completes; then stops accepting messages, lets
    /// provider calls in flight finish within the grace period, writes what is pending, and
    /// closes the listeners.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let header_read = self.state.guards.header_read_timeout();
        let public = serve(
            self.public,
            http::public_router(self.state.clone()),
            header_read,
            stopped(stop_rx.clone()),
        );
        let internal = serve(
            self.internal,
            http::internal_router(self.state.clone()),
            header_read,
            stopped(stop_rx.clone()),
        );
        let servers = tokio::spawn(async move { tokio::join!(public, internal) });

        shutdown.await;
        tracing::info!("shutting down: no new messages; draining provider calls");
        self.engine.shutdown(self.grace).await;
        let _ = stop_tx.send(true);
        match tokio::time::timeout(CONNECTION_GRACE, servers).await {
            Ok(Ok(_)) => {}
            Ok(Err(join)) => return Err(join).context("a listener task failed"),
            Err(_) => tracing::warn!("connections still open after the grace period; closing"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Hands other instances' changes to this engine: provider configurations are reloaded, and
/// their messages' status changes reach this instance's `messageUpdates` subscribers.
fn relay_changes(store: &MongoStore, engine: &Engine) {
    let mut changes = store.follow_changes();
    let engine = engine.clone();
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            match change {
                Change::Provider(id) => engine.provider_changed(id),
                Change::Message(message) => engine.stored_elsewhere(*message),
            }
        }
    });
}

/// Creates each `[[providers]]` table whose slug is not stored yet, through the engine as
/// `createProvider` does: validated, credentials sealed, its actor started. The first one
/// created becomes the default when no provider is the default yet.
async fn seed_declared_providers(
    engine: &Engine,
    settings: &Settings,
    configured: &[ProviderConfig],
    banner: &mut Vec<String>,
) -> anyhow::Result<()> {
    for declared in &settings.providers {
        if configured.iter().any(|c| c.slug == declared.slug) {
            // The store wins: the API may have changed it since it was first declared.
            tracing::debug!(provider = %declared.slug, "declared provider already stored; left as it is");
            continue;
        }
        let created = engine
            .create_provider(NewProvider {
                name: declared.name.clone(),
                slug: declared.slug.clone(),
                kind: Some(declared.kind),
                api_base_url: declared.api_base_url.clone(),
                sender_id: declared.sender_id.clone(),
                priority: declared.priority,
                is_active: declared.is_active,
                features: declared.features.clone(),
                credentials: declared.credentials.clone(),
                settings: declared.settings.clone(),
            })
            .await
            .with_context(|| {
                format!(
                    "could not create the provider {:?} declared in the config file",
                    declared.slug
                )
            })?;
        banner.push(format!(
            "config: created the provider {} ({}) declared in the file",
            created.config.slug,
            created.config.kind.as_str()
        ));
    }
    Ok(())
}
