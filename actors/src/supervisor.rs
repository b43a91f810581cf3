//! Supervisor actor: the root of the tree. Starts the Logger and Router actors and one
//! Provider actor per active provider, restarts crashed providers, and recovers unfinished
//! messages at start.
//!
//! - Accepts: provider lifecycle commands (`StartProvider`, `StopProvider`, `ReloadProvider`,
//!   `Reconfigure`),
//!   its own restart timers, and supervision events from its children.
//! - Never: awaits the store in a handler after start-up; reloading a configuration is a task.
//! - Restart policy: a crashed provider actor is restarted from its stored configuration after
//!   a backoff (100 ms doubling), at most `MAX_RESTARTS` times in `RESTART_WINDOW`; past that it
//!   stays down and the Router routes around it. A crash of the Logger or Router leaves the
//!   engine not ready (`/readyz` 503) so an orchestrator restarts the process, whose recovery
//!   sweep then picks every unfinished message up again.
//! - The Alerts actor (started by `Engine::start_alerts`) is restarted with the providers'
//!   policy; its firing alerts are rebuilt from the alert history.
//! - Leases: at start it claims the unfinished messages that are free or already this
//!   instance's, then runs the lease keeper (leases.rs) until it stops.

use crate::{
    alerts::{Alerts, AlertsArgs, AlertsMsg},
    domain::{ProviderConfig, ProviderId},
    logger::{Logger, LoggerArgs, LoggerMsg},
    ports::{DeliveryReport, EngineMetrics, ProviderFactory, ReportSink, Store},
    provider::{ProviderActor, ProviderArgs, ProviderMsg},
    router::{Directory, Router, RouterArgs, RouterConfig, RouterMsg},
    updates::UpdateBus,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{sync::watch, time::Instant};

const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

pub enum SupervisorMsg {
    /// The refs the engine handle talks to.
    Core(RpcReplyPort<Core>),
    StartProvider(ProviderConfig),
    StopProvider(String),
    /// Read this provider's configuration again and restart (or stop) its actor to match.
    ReloadProvider(ProviderId),
    /// As `ReloadProvider`, answering once the actor has been started or stopped (and the Router
    /// told), so an admin change is live when its API call returns.
    Reconfigure(ProviderId, RpcReplyPort<()>),
    Reloaded(ProviderId, Option<ProviderConfig>, Option<RpcReplyPort<()>>),
    /// As `ReloadProvider`, but an actor already running as stored is left alone: for changes
    /// seen through the store's change feed, often the echo of this instance's own.
    Refresh(ProviderId),
    Refreshed(ProviderId, Option<ProviderConfig>),
    RestartProvider(ProviderId),
    /// Starts the Alerts actor (once); it is restarted like a provider when it crashes.
    StartAlerts(AlertsArgs, RpcReplyPort<bool>),
    RestartAlerts,
    /// The Alerts actor's ref, if it runs.
    AlertsActor(RpcReplyPort<Option<ActorRef<AlertsMsg>>>),
    /// The provider actor's ref, for supervision tests.
    #[cfg(any(test, feature = "test-support"))]
    ProviderActor(String, RpcReplyPort<Option<ActorRef<ProviderMsg>>>),
}

#[derive(Clone)]
pub struct Core {
    pub router: ActorRef<RouterMsg>,
    pub logger: ActorRef<LoggerMsg>,
}

pub struct Supervisor;

pub struct SupervisorArgs {
    pub store: Arc<dyn Store>,
    pub factory: Arc<dyn ProviderFactory>,
    pub metrics: Arc<dyn EngineMetrics>,
    pub bus: UpdateBus,
    pub router: RouterConfig,
    pub max_batch: usize,
    pub directory: watch::Sender<Directory>,
    /// Cleared when a core actor dies: the engine can no longer keep its promises.
    pub healthy: Arc<AtomicBool>,
}

struct Child {
    actor: ActorRef<ProviderMsg>,
    config: ProviderConfig,
}

pub struct SupervisorState {
    store: Arc<dyn Store>,
    factory: Arc<dyn ProviderFactory>,
    metrics: Arc<dyn EngineMetrics>,
    core: Core,
    core_cells: HashSet<ractor::ActorId>,
    children: HashMap<String, Child>,
    stopping: HashSet<ractor::ActorId>,
    restarts: HashMap<ProviderId, VecDeque<Instant>>,
    healthy: Arc<AtomicBool>,
    /// The Alerts actor, with what it needs to be started again after a crash.
    alerts: Option<(Option<ActorRef<AlertsMsg>>, AlertsArgs)>,
    alerts_restarts: VecDeque<Instant>,
    /// The lease keeper; aborted when the supervisor stops so this instance's leases run out.
    leases: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let cell = myself.get_cell();
        let (logger, _) = Actor::spawn_linked(
            None,
            Logger,
            LoggerArgs {
                store: args.store.clone(),
                bus: args.bus.clone(),
                metrics: args.metrics.clone(),
                max_batch: args.max_batch,
            },
            cell.clone(),
        )
        .await?;
        let (router, _) = Actor::spawn_linked(
            None,
            Router,
            RouterArgs {
                logger: logger.clone(),
                store: args.store.clone(),
                metrics: args.metrics.clone(),
                config: args.router.clone(),
                directory: args.directory.clone(),
            },
            cell.clone(),
        )
        .await?;
        let core_cells = [logger.get_id(), router.get_id()].into_iter().collect();
        let mut state = SupervisorState {
            store: args.store.clone(),
            factory: args.factory,
            metrics: args.metrics,
            core: Core { router, logger },
            core_cells,
            children: HashMap::new(),
            stopping: HashSet::new(),
            restarts: HashMap::new(),
            healthy: args.healthy,
            alerts: None,
            alerts_restarts: VecDeque::new(),
            leases: None,
        };
        // Start-up reads run before any message is handled: nothing waits behind them yet.
        for config in args.store.providers().await? {
            if config.is_active {
                state.start_provider(&cell, config).await;
            }
        }
        // Only what is free or already ours: other live instances keep theirs.
        let unfinished = args.store.claim_at_start().await?;
        state.core.router.cast(RouterMsg::Recover(unfinished))?;
        state.leases = Some(crate::leases::spawn(
            args.store.clone(),
            state.core.router.clone(),
        ));
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Core(reply) => {
                let _ = reply.send(state.core.clone());
            }
            SupervisorMsg::StartProvider(config) => {
                state.stop_provider(&config.slug, false);
                if config.is_active {
                    state.start_provider(&myself.get_cell(), config).await;
                }
            }
            SupervisorMsg::StopProvider(slug) => state.stop_provider(&slug, true),
            SupervisorMsg::ReloadProvider(id) | SupervisorMsg::RestartProvider(id) => {
                state.reload(&myself, id, None);
            }
            SupervisorMsg::Reconfigure(id, reply) => state.reload(&myself, id, Some(reply)),
            SupervisorMsg::StartAlerts(args, reply) => {
                let started = state.alerts.is_none();
                if started {
                    state.alerts = Some((None, args));
                    state.start_alerts(&myself).await;
                }
                let _ = reply.send(started);
            }
            SupervisorMsg::RestartAlerts => state.start_alerts(&myself).await,
            SupervisorMsg::AlertsActor(reply) => {
                let _ = reply.send(state.alerts.as_ref().and_then(|(a, _)| a.clone()));
            }
            SupervisorMsg::Refresh(id) => state.read_config(&myself, id, None, true),
            SupervisorMsg::Refreshed(id, config) => {
                let running_as_stored = match &config {
                    Some(config) => state
                        .children
                        .get(&config.slug)
                        .is_some_and(|c| c.config == *config),
                    None => !state.children.values().any(|c| c.config.id == id),
                };
                if !running_as_stored {
                    myself.cast(SupervisorMsg::Reloaded(id, config, None))?;
                }
            }
            SupervisorMsg::Reloaded(id, config, reply) => {
                match config {
                    Some(config) => {
                        state.stop_provider(&config.slug, false);
                        if config.is_active {
                            state.start_provider(&myself.get_cell(), config).await;
                        } else {
                            let _ = state.core.router.cast(RouterMsg::ProviderDown {
                                slug: config.slug,
                                removed: false,
                            });
                        }
                    }
                    None => {
                        let slug = state
                            .children
                            .iter()
                            .find(|(_, c)| c.config.id == id)
                            .map(|(s, _)| s.clone());
                        if let Some(slug) = slug {
                            state.stop_provider(&slug, true);
                        }
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            #[cfg(any(test, feature = "test-support"))]
            SupervisorMsg::ProviderActor(slug, reply) => {
                let _ = reply.send(state.children.get(&slug).map(|c| c.actor.clone()));
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(keeper) = state.leases.take() {
            keeper.abort();
            // Stopped after the Logger's last commit (see Engine::shutdown): nothing more is
            // written under these leases, so others may take the messages at once.
            if let Err(err) = state.store.release_leases().await {
                tracing::warn!(error.message = %err, "could not release this instance's leases; they run out instead");
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, crashed) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(actor = ?cell.get_id(), error.message = %err, "actor crashed");
                (cell.clone(), true)
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell.clone(), false),
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {
                return Ok(())
            }
        };
        let id = cell.get_id();
        if state.core_cells.contains(&id) {
            if !myself.get_status().eq(&ractor::ActorStatus::Stopping) {
                tracing::error!(actor = ?id, "a core engine actor stopped: the engine is no longer ready");
                state.healthy.store(false, Ordering::SeqCst);
            }
            return Ok(());
        }
        if state.stopping.remove(&id) {
            return Ok(());
        }
        if let Some((actor, _)) = &mut state.alerts {
            if actor.as_ref().is_some_and(|a| a.get_id() == id) {
                *actor = None;
                if crashed {
                    state.schedule_alerts_restart(&myself);
                }
                return Ok(());
            }
        }
        let Some(slug) = state
            .children
            .iter()
            .find(|(_, c)| c.actor.get_id() == id)
            .map(|(s, _)| s.clone())
        else {
            return Ok(());
        };
        let Some(child) = state.children.remove(&slug) else {
            return Ok(());
        };
        let _ = state.core.router.cast(RouterMsg::ProviderDown {
            slug: slug.clone(),
            removed: false,
        });
        if crashed {
            state.schedule_restart(&myself, &slug, child.config.id);
        }
        Ok(())
    }
}

impl SupervisorState {
    /// Reads the provider's configuration in a task (the store is never awaited in a handler)
    /// and comes back with `Reloaded`.
    fn reload(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        id: ProviderId,
        reply: Option<RpcReplyPort<()>>,
    ) {
        self.read_config(myself, id, reply, false);
    }

    /// Reads the configuration in a task; comes back as `Refreshed` when `refresh`, else as
    /// `Reloaded`.
    fn read_config(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        id: ProviderId,
        reply: Option<RpcReplyPort<()>>,
        refresh: bool,
    ) {
        let store = self.store.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            match store.provider(&id).await {
                Ok(config) if refresh => {
                    let _ = me.cast(SupervisorMsg::Refreshed(id, config));
                }
                Ok(config) => {
                    let _ = me.cast(SupervisorMsg::Reloaded(id, config, reply));
                }
                Err(err) => {
                    // Dropping `reply` tells a waiting caller the change is not live yet.
                    tracing::error!(provider_id = %id, error.message = %err, "could not read a provider's configuration");
                }
            }
        });
    }

    async fn start_provider(&mut self, supervisor: &ActorCell, config: ProviderConfig) {
        let router = self.core.router.clone();
        let sink: ReportSink = Arc::new(move |report: DeliveryReport| {
            let _ = router.cast(RouterMsg::Report(report));
        });
        let client = match self.factory.build(&config, sink) {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(provider = %config.slug, error.message = %err, "provider could not be built; it stays down");
                return;
            }
        };
        let spawned = Actor::spawn_linked(
            None,
            ProviderActor,
            ProviderArgs {
                config: config.clone(),
                client,
                router: self.core.router.clone(),
                metrics: self.metrics.clone(),
            },
            supervisor.clone(),
        )
        .await;
        match spawned {
            Ok((actor, _)) => {
                tracing::info!(provider = %config.slug, kind = config.kind.as_str(), "provider started");
                let _ = self.core.router.cast(RouterMsg::ProviderUp {
                    config: config.clone(),
                    actor: actor.clone(),
                });
                self.children
                    .insert(config.slug.clone(), Child { actor, config });
            }
            Err(err) => {
                tracing::error!(provider = %config.slug, error.message = %err, "provider actor failed to start");
            }
        }
    }

    fn stop_provider(&mut self, slug: &str, removed: bool) {
        if let Some(child) = self.children.remove(slug) {
            self.stopping.insert(child.actor.get_id());
            // Drain, not stop: sends already in its mailbox are started (their outcomes go to
            // the Router) instead of being dropped with the mailbox, which would strand those
            // messages in SENDING. Sends cast after the drain are refused and the Router retries
            // them elsewhere or on the restarted actor.
            if child.actor.drain().is_err() {
                child.actor.stop(Some("reconfigured".into()));
            }
        }
        if removed {
            let _ = self.core.router.cast(RouterMsg::ProviderDown {
                slug: slug.to_owned(),
                removed: true,
            });
        }
    }

    async fn start_alerts(&mut self, supervisor: &ActorRef<SupervisorMsg>) {
        let Some((actor, args)) = &mut self.alerts else {
            return;
        };
        if actor.is_some() {
            return;
        }
        match Actor::spawn_linked(None, Alerts, args.clone(), supervisor.get_cell()).await {
            Ok((spawned, _)) => *actor = Some(spawned),
            Err(err) => {
                tracing::error!(error.message = %err, "the alerts actor failed to start");
                self.schedule_alerts_restart(supervisor);
            }
        }
    }

    /// Same policy as a provider: doubling backoff, at most `MAX_RESTARTS` in `RESTART_WINDOW`.
    fn schedule_alerts_restart(&mut self, myself: &ActorRef<SupervisorMsg>) {
        let now = Instant::now();
        let history = &mut self.alerts_restarts;
        while history
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            history.pop_front();
        }
        if history.len() >= MAX_RESTARTS {
            tracing::error!(
                "the alerts actor keeps crashing; alerts stay off until smsgate restarts"
            );
            return;
        }
        let delay = Duration::from_millis(100 * (1 << history.len()));
        history.push_back(now);
        tracing::warn!(?delay, "restarting the crashed alerts actor");
        myself.send_after(delay, || SupervisorMsg::RestartAlerts);
    }

    fn schedule_restart(&mut self, myself: &ActorRef<SupervisorMsg>, slug: &str, id: ProviderId) {
        let now = Instant::now();
        let history = self.restarts.entry(id.clone()).or_default();
        while history
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            history.pop_front();
        }
        if history.len() >= MAX_RESTARTS {
            tracing::error!(provider = %slug, "provider keeps crashing; it stays down until reconfigured");
            return;
        }
        let delay = Duration::from_millis(100 * (1 << history.len()));
        history.push_back(now);
        tracing::warn!(provider = %slug, ?delay, "restarting crashed provider");
        myself.send_after(delay, move || SupervisorMsg::RestartProvider(id));
    }
}
