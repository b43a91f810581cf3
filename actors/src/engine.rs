//! The `Engine` handle: what the rest of smsgate calls. Validates requests, makes a message
//! durable before answering, and talks to the actor tree; cheap to clone.

use crate::{
    domain::{
        scoped_key, stats::summarize, DailyStats, Message, MessageEvent, MessageFilter, MessageId,
        MessageStatus, MessageType, Money, Page, PageRequest, ProviderConfig, StatsQuery, TextInfo,
        E164,
    },
    error::EngineError,
    logger::{Done, LoggerMsg},
    ports::{
        AcceptLimiter, Admission, DeliveryReport, EngineMetrics, MessageWrite, ProviderFactory,
        SecretSealer, Store, WriteOutcome,
    },
    router::{Directory, ProviderView, RouterConfig, RouterMsg},
    supervisor::{Core, Supervisor, SupervisorArgs, SupervisorMsg},
    updates::{UpdateBus, UpdateFilter},
};
use chrono::Utc;
use futures::stream::BoxStream;
use ractor::{call_t, Actor, ActorRef};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

mod admin;
mod alerts;
mod catalog;
mod validate;
pub use alerts::AlertsSetup;
pub use catalog::ProviderCatalog;
pub use validate::{NewProvider, ProviderPatch};

/// How long a request waits on an actor's answer before it is told UNAVAILABLE.
const CALL_TIMEOUT_MS: u64 = 10_000;
/// Longest accepted idempotency key and sender.
const MAX_KEY_LEN: usize = 128;
const MAX_SENDER_LEN: usize = 15;
/// Bounds of a validity set per message, in seconds: 30 s (less could not reach a phone) to
/// 72 hours (the longest any provider keeps a message).
pub const MIN_VALIDITY_SECS: u32 = 30;
pub const MAX_VALIDITY_SECS: u32 = 72 * 3600;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Provider attempts per message before it is FAILED.
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Longest body, in SMS parts.
    pub max_segments: u32,
    /// Most writes in one commit.
    pub max_batch: usize,
    /// Changes a subscriber may fall behind before its stream is ended.
    pub updates_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            max_segments: 10,
            max_batch: 1024,
            updates_capacity: 4096,
        }
    }
}

pub struct EngineDeps {
    pub store: Arc<dyn Store>,
    pub providers: Arc<dyn ProviderFactory>,
    pub metrics: Arc<dyn EngineMetrics>,
    /// Encrypts provider credentials given to `create_provider` / `update_provider`.
    pub sealer: Arc<dyn SecretSealer>,
    /// Per-recipient limits on new messages; `None` limits nothing.
    pub limiter: Option<Arc<dyn AcceptLimiter>>,
    pub config: EngineConfig,
}

/// A request to send one SMS, as the API received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendSms {
    pub to: String,
    pub body: String,
    pub message_type: MessageType,
    pub sender: Option<String>,
    /// Pin a provider by slug.
    pub provider: Option<String>,
    pub idempotency_key: Option<String>,
    /// Seconds the message may wait to be sent; the type's default when `None`. Past it the
    /// message is EXPIRED, never sent late.
    pub validity_secs: Option<u32>,
    /// The name of the calling token: recorded on the message, charged for it against the
    /// token's limits, and the scope of its idempotency key. `None` for the engine's own callers.
    pub sent_by: Option<String>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    supervisor: ActorRef<SupervisorMsg>,
    core: Core,
    store: Arc<dyn Store>,
    sealer: Arc<dyn SecretSealer>,
    /// Checks provider configurations before they are stored (the same factory builds them).
    checker: Arc<dyn ProviderFactory>,
    bus: UpdateBus,
    directory: watch::Receiver<Directory>,
    config: EngineConfig,
    accepting: AtomicBool,
    healthy: Arc<AtomicBool>,
    limiter: Option<Arc<dyn AcceptLimiter>>,
    /// Idempotency keys being accepted right now, so that duplicates take turns.
    keys: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Alert notices as they are made; exists before alerts start, so subscribing never fails.
    alerts: crate::alerts::AlertBus,
    alert_log: std::sync::OnceLock<Arc<dyn crate::ports::AlertLog>>,
}

impl Engine {
    /// Starts the actor tree, the configured providers, and the recovery of unfinished messages.
    pub async fn start(deps: EngineDeps) -> Result<Engine, EngineError> {
        let bus = UpdateBus::new(deps.config.updates_capacity);
        let (directory_tx, directory) = watch::channel(Arc::new(Vec::new()));
        let healthy = Arc::new(AtomicBool::new(true));
        let (supervisor, _) = Actor::spawn(
            None,
            Supervisor,
            SupervisorArgs {
                store: deps.store.clone(),
                factory: deps.providers.clone(),
                metrics: deps.metrics,
                bus: bus.clone(),
                router: RouterConfig {
                    max_attempts: deps.config.max_attempts.max(1),
                    retry_base: deps.config.retry_base,
                    retry_max: deps.config.retry_max,
                },
                max_batch: deps.config.max_batch,
                directory: directory_tx,
                healthy: healthy.clone(),
            },
        )
        .await
        .map_err(|e| EngineError::Internal(e.to_string().into()))?;
        let core = call_t!(supervisor, SupervisorMsg::Core, CALL_TIMEOUT_MS)
            .map_err(|e| EngineError::Internal(e.to_string().into()))?;
        let engine = Engine {
            inner: Arc::new(Inner {
                supervisor,
                core,
                store: deps.store,
                sealer: deps.sealer,
                checker: deps.providers,
                bus,
                directory,
                config: deps.config,
                accepting: AtomicBool::new(true),
                healthy,
                limiter: deps.limiter,
                keys: std::sync::Mutex::new(HashMap::new()),
                alerts: crate::alerts::AlertBus::new(256),
                alert_log: std::sync::OnceLock::new(),
            }),
        };
        // The directory is filled by the Router as providers come up: wait for it, so the first
        // request after start sees them.
        let _ = engine.providers().await;
        Ok(engine)
    }

    /// Accepts a message: validated, stored as QUEUED, then answered. Refused requests store
    /// nothing. With an idempotency key already used for the same request, the first message is
    /// returned and nothing new is sent; for a different request it is a CONFLICT.
    pub async fn send(&self, request: SendSms) -> Result<Message, EngineError> {
        if !self.inner.accepting.load(Ordering::SeqCst) {
            return Err(EngineError::Unavailable("smsgate is shutting down".into()));
        }
        let (message, estimated_cost) = self.validate(&request)?;
        // One message's life is followed by its id: this span, then the Router's, the provider
        // call's and the Logger's events carry `message_id` (see README, "Following a message").
        let span = tracing::info_span!(
            "accept",
            message_id = %message.id,
            message_type = message.message_type.as_str()
        );
        self.send_validated(message, estimated_cost)
            .instrument(span)
            .await
    }

    async fn send_validated(
        &self,
        message: Message,
        estimated_cost: Option<Money>,
    ) -> Result<Message, EngineError> {
        let Some(key) = message.idempotency_key.clone() else {
            return self.accept(message, estimated_cost).await;
        };
        // Requests with the same key take turns: each later one finds the first stored, so
        // concurrent duplicates resolve to one message and use the recipient's allowance once.
        let turn = {
            let mut keys = lock(&self.inner.keys);
            keys.entry(key.clone()).or_default().clone()
        };
        let result = {
            let _turn = turn.lock().await;
            match self.inner.store.message_by_idempotency_key(&key).await? {
                Some(first) => replay(first, &message),
                None => self.accept(message, estimated_cost).await,
            }
        };
        let mut keys = lock(&self.inner.keys);
        // Two holders left (the map and us): nobody else waits on this key.
        if Arc::strong_count(&turn) == 2 {
            keys.remove(&key);
        }
        result
    }

    /// Stores a new message (within its token's and its recipient's allowances) and
    /// dispatches it.
    async fn accept(
        &self,
        message: Message,
        estimated_cost: Option<Money>,
    ) -> Result<Message, EngineError> {
        let admission = Admission {
            sent_by: message.sent_by.as_deref(),
            to: &message.to,
            message_type: message.message_type,
            segments: message.segments,
            estimated_cost,
        };
        if let Some(limiter) = &self.inner.limiter {
            limiter
                .try_take(&admission)
                .await
                .map_err(|refusal| EngineError::RateLimited {
                    retry_after: refusal.retry_after,
                    reason: refusal.reason,
                })?;
        }
        let result = self.insert(&message).await;
        if !matches!(result, Ok(WriteOutcome::Applied)) {
            if let Some(limiter) = &self.inner.limiter {
                limiter.give_back(&admission).await;
            }
        }
        match result {
            Ok(WriteOutcome::Applied) => {
                tracing::debug!(segments = message.segments, "accepted and stored as QUEUED");
                Ok(message)
            }
            // Another instance took the key between our look-up and the insert.
            Ok(WriteOutcome::DuplicateIdempotencyKey(id)) => {
                let first = self.inner.store.message(&id).await?.ok_or_else(|| {
                    EngineError::Internal("an idempotency key names no message".into())
                })?;
                replay(first, &message)
            }
            // Only status changes are fenced; an insert never hears this.
            Ok(WriteOutcome::LeaseLost) => Err(EngineError::Unavailable(
                "the message was not stored; try again".into(),
            )),
            Err(err) => Err(err),
        }
    }

    async fn insert(&self, message: &Message) -> Result<WriteOutcome, EngineError> {
        let (tx, rx) = oneshot::channel();
        let router = self.inner.core.router.clone();
        let dispatched = message.clone();
        // Dispatch happens in the commit callback, not after this future resumes: a caller that
        // hangs up after the commit must not leave a stored message that nobody sends.
        let done: Done = Box::new(move |result| {
            if matches!(result, Ok(WriteOutcome::Applied)) {
                let _ = router.cast(RouterMsg::Dispatch(dispatched));
            }
            let _ = tx.send(result);
        });
        self.inner
            .core
            .logger
            .cast(LoggerMsg::Write {
                write: Box::new(MessageWrite::Insert(Arc::new(message.clone()))),
                done: Some(done),
            })
            .map_err(|_| EngineError::stopped("logger"))?;
        match rx.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(err)) => Err(EngineError::Unavailable(Box::new(ArcError(err)))),
            Err(_) => Err(EngineError::stopped("logger")),
        }
    }

    /// The message a request asks for, and what it is expected to cost.
    fn validate(&self, request: &SendSms) -> Result<(Message, Option<Money>), EngineError> {
        let to = E164::parse(&request.to)
            .map_err(|e| EngineError::invalid("to", format!("{e}: {:?}", request.to)))?;
        if request.body.trim().is_empty() {
            return Err(EngineError::invalid("body", "must not be empty"));
        }
        let text = TextInfo::analyze(&request.body);
        if text.segments > self.inner.config.max_segments {
            return Err(EngineError::invalid(
                "body",
                format!(
                    "needs {} SMS parts ({} {} units); at most {} are allowed",
                    text.segments,
                    text.units,
                    text.encoding.as_str(),
                    self.inner.config.max_segments
                ),
            ));
        }
        let sender = valid_sender("sender", request.sender.as_deref())?;
        let validity = match request.validity_secs {
            None => request.message_type.default_validity(),
            Some(secs) if (MIN_VALIDITY_SECS..=MAX_VALIDITY_SECS).contains(&secs) => {
                chrono::Duration::seconds(i64::from(secs))
            }
            Some(secs) => {
                return Err(EngineError::invalid(
                    "validity",
                    format!(
                    "{secs} seconds: must be {MIN_VALIDITY_SECS} to {MAX_VALIDITY_SECS} (72 hours)"
                ),
                ))
            }
        };
        let key = match request.idempotency_key.as_deref() {
            None => None,
            Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN => {
                return Err(EngineError::invalid(
                    "idempotencyKey",
                    format!("1 to {MAX_KEY_LEN} characters"),
                ))
            }
            Some(k) => Some(scoped_key(request.sent_by.as_deref(), k)),
        };
        let directory = self.inner.directory.borrow().clone();
        let pinned = match request.provider.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(slug) => match directory.iter().find(|p| p.config.slug == slug) {
                None => {
                    return Err(EngineError::invalid(
                        "provider",
                        format!("no provider has the slug {slug:?}"),
                    ))
                }
                Some(p) if !p.running || !p.config.is_active => {
                    return Err(EngineError::NoProvider(format!(
                        "provider {slug:?} is not active"
                    )))
                }
                Some(_) => Some(slug.to_owned()),
            },
        };
        if pinned.is_none() && !directory.iter().any(|p| p.running && p.config.is_active) {
            return Err(EngineError::NoProvider(
                "no active provider is configured".into(),
            ));
        }
        let estimated_cost = estimated_cost(&directory, pinned.as_deref(), text.segments);
        let now = Utc::now();
        let message = Message {
            id: MessageId::generate(),
            to,
            body: text.body,
            message_type: request.message_type,
            sender,
            pinned_provider: pinned,
            idempotency_key: key,
            sent_by: request.sent_by.clone(),
            status: MessageStatus::Queued,
            provider: None,
            provider_message_id: None,
            encoding: text.encoding,
            segments: text.segments,
            cost: None,
            attempts: 0,
            error: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
            delivered_at: None,
            expires_at: now + validity,
            events: vec![MessageEvent {
                status: MessageStatus::Queued,
                at: now,
                provider: None,
                error: None,
            }],
        };
        Ok((message, estimated_cost))
    }

    pub async fn message(&self, id: &str) -> Result<Message, EngineError> {
        let parsed = MessageId::parse(id).ok_or_else(|| EngineError::not_found("message", id))?;
        self.inner
            .store
            .message(&parsed)
            .await?
            .ok_or_else(|| EngineError::not_found("message", id))
    }

    pub async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, EngineError> {
        Ok(self.inner.store.messages(filter, page).await?)
    }

    /// Every stored status change of matching messages. Following one message (`message_id`),
    /// the stream starts with its stored state and ends after a final state. A subscriber that
    /// falls too far behind has its stream ended and should subscribe again.
    pub async fn subscribe(
        &self,
        filter: UpdateFilter,
    ) -> Result<BoxStream<'static, Arc<Message>>, EngineError> {
        let rx = self.inner.bus.receiver();
        let snapshot = match &filter.message_id {
            Some(id) => Some(
                self.inner
                    .store
                    .message(id)
                    .await?
                    .filter(|m| {
                        // A caller confined to its own messages cannot follow another's.
                        filter
                            .messages
                            .sent_by
                            .as_ref()
                            .is_none_or(|name| m.sent_by.as_deref() == Some(name.as_str()))
                    })
                    .ok_or_else(|| EngineError::not_found("message", id.as_str()))?,
            ),
            None => None,
        };
        Ok(UpdateBus::stream(rx, filter, snapshot))
    }

    pub async fn providers(&self) -> Result<Vec<ProviderView>, EngineError> {
        call_t!(
            self.inner.core.router,
            RouterMsg::Providers,
            CALL_TIMEOUT_MS
        )
        .map_err(|_| EngineError::stopped("router"))
    }

    pub async fn provider(&self, id: &str) -> Result<ProviderView, EngineError> {
        self.providers()
            .await?
            .into_iter()
            .find(|p| p.config.id.as_str() == id || p.config.slug == id)
            .ok_or_else(|| EngineError::not_found("provider", id))
    }

    /// The providers and their health, updated on every change: wait on it rather than poll.
    pub fn watch_providers(&self) -> watch::Receiver<Directory> {
        self.inner.directory.clone()
    }

    /// Providers as stored, with the live view where the provider runs.
    pub async fn provider_configs(&self) -> Result<Vec<ProviderConfig>, EngineError> {
        Ok(self.inner.store.providers().await?)
    }

    /// Per provider figures per day or hour (per type when asked), including every change
    /// committed before the call.
    pub async fn statistics(&self, query: StatsQuery) -> Result<Vec<DailyStats>, EngineError> {
        if query.from > query.to {
            return Err(EngineError::invalid("from", "must not be after `to`"));
        }
        // The Logger commits each batch's figures with the batch: the stored rows are the
        // statistics, nothing is held in memory to merge in.
        let rows = self.inner.store.statistics(&query).await?;
        Ok(summarize(rows, &query))
    }

    /// A delivery receipt from a webhook; applied in order with everything else about the message.
    pub fn report_delivery(&self, report: DeliveryReport) {
        let _ = self.inner.core.router.cast(RouterMsg::Report(report));
    }

    /// Store reachable and engine running.
    pub async fn is_ready(&self) -> bool {
        self.inner.healthy.load(Ordering::SeqCst)
            && self.inner.accepting.load(Ordering::SeqCst)
            && self.inner.store.ping().await.is_ok()
    }

    /// Stops accepting, lets provider calls in flight finish for up to `grace`, writes what is
    /// pending, and stops the actors. Messages not yet handed to a provider stay QUEUED for the
    /// next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.accepting.store(false, Ordering::SeqCst);
        let grace_ms = grace.as_millis() as u64;
        if call_t!(self.inner.core.router, RouterMsg::Drain, grace_ms.max(1)).is_err() {
            tracing::warn!("provider calls still in flight after the grace period");
        }
        let _ = call_t!(self.inner.core.logger, LoggerMsg::Flush, CALL_TIMEOUT_MS);
        let _ = self
            .inner
            .supervisor
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
            .await;
    }

    /// Restart (or stop) a provider's actor to match its stored configuration.
    pub fn reload_provider(&self, id: crate::domain::ProviderId) {
        let _ = self
            .inner
            .supervisor
            .cast(SupervisorMsg::ReloadProvider(id));
    }

    /// A provider's stored configuration changed, perhaps through another instance: its actor
    /// is restarted (or stopped) only when it does not already run as stored.
    pub fn provider_changed(&self, id: crate::domain::ProviderId) {
        let _ = self.inner.supervisor.cast(SupervisorMsg::Refresh(id));
    }

    /// A change another instance stored (seen through the store's change feed), as stored now:
    /// published to this instance's subscribers; when final, the Router lets go of its copy.
    pub fn stored_elsewhere(&self, message: Message) {
        if message.status.is_final() {
            let _ = self
                .inner
                .core
                .router
                .cast(RouterMsg::FinishedElsewhere(message.id.clone()));
        }
        self.inner.bus.publish(Arc::new(message));
    }

    /// The supervisor, for supervision tests.
    #[cfg(any(test, feature = "test-support"))]
    pub fn supervisor(&self) -> &ActorRef<SupervisorMsg> {
        &self.inner.supervisor
    }
}

/// A sender ID as providers accept it: at most 15 letters, digits, spaces or `+`.
fn valid_sender(field: &'static str, raw: Option<&str>) -> Result<Option<String>, EngineError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s)
            if s.chars().count() > MAX_SENDER_LEN
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '+') =>
        {
            Err(EngineError::invalid(
                field,
                format!("at most {MAX_SENDER_LEN} letters, digits or spaces"),
            ))
        }
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// The answer to a repeated idempotency key: the first message when the request is the same.
/// What a message of `segments` parts is expected to cost: at the highest price per part that
/// an active provider states (`price_per_segment_cents`), or the pinned one's; `None` when none
/// states a price.
fn estimated_cost(
    directory: &[crate::router::ProviderView],
    pinned: Option<&str>,
    segments: u32,
) -> Option<Money> {
    directory
        .iter()
        .filter(|p| p.config.is_active && pinned.is_none_or(|slug| p.config.slug == slug))
        .filter_map(|p| p.config.settings.get("price_per_segment_cents")?.as_f64())
        .filter(|price| price.is_finite() && *price >= 0.0)
        .map(Money::from_cents)
        .max()
        .map(|price| price * segments)
}

fn replay(first: Message, request: &Message) -> Result<Message, EngineError> {
    if same_request(&first, request) {
        Ok(first)
    } else {
        Err(EngineError::Conflict(
            "this idempotency key was used for a different request".into(),
        ))
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn same_request(a: &Message, b: &Message) -> bool {
    a.to == b.to
        && a.body == b.body
        && a.message_type == b.message_type
        && a.sender == b.sender
        && a.pinned_provider == b.pinned_provider
        && validity_secs(a) == validity_secs(b)
}

/// A message's validity to the nearest second: stores may keep times at millisecond precision,
/// so the exact difference of a stored message and a new request can differ by a fraction.
fn validity_secs(message: &Message) -> i64 {
    ((message.expires_at - message.created_at).num_milliseconds() + 500).div_euclid(1000)
}

/// Lets a shared store error be the source of an engine error.
#[derive(Debug)]
struct ArcError(Arc<crate::ports::StoreError>);

impl std::fmt::Display for ArcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ArcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}
