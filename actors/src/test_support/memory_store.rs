//! MemoryStore: the in-memory `Store` (messages, providers, statistics, alerts, leases) with
//! fault injection, shared by several engine "instances" as one database would be.

use super::lock;
use crate::{
    domain::stats::{merge_rows, rows_for_day, StatsRebuild},
    domain::{
        Message, MessageFilter, MessageId, MessageStatus, Page, PageRequest, ProviderConfig,
        ProviderId, StatsDelta, StatsQuery,
    },
    ports::{
        lease::{is_receipt, previous_status},
        InstanceId, LeaseHolder, Leases, MessageWrite, Store, StoreError, WriteOutcome,
    },
};
use async_trait::async_trait;
use chrono::NaiveDate;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

#[derive(Default)]
struct MemoryInner {
    messages: BTreeMap<MessageId, Message>,
    keys: HashMap<String, MessageId>,
    providers: Vec<ProviderConfig>,
    stats: StatsTable,
    alerts: Vec<crate::alerts::Alert>,
    /// Who holds each message's lease, and until when.
    leases: HashMap<MessageId, (InstanceId, tokio::time::Instant)>,
}

/// An in-memory `Store`. `set_failing(true)` makes every write fail as an unreachable store would.
/// `instance` gives another handle on the same data written as another instance, so two
/// engines can share one store as two processes share one database.
#[derive(Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
    holder: LeaseHolder,
    failing: AtomicBool,
    commits: AtomicUsize,
    refused: AtomicUsize,
    provider_id_lookups: AtomicUsize,
    /// `claim_expired` never answers, as a MongoDB-wire server that hangs on a query.
    stalled_claims: AtomicBool,
    renewals: AtomicUsize,
    /// How long a commit refused for a lost lease takes to answer (a server that applied the
    /// fence, then answered late), and how many such refusals were decided.
    late_refusal: Mutex<Duration>,
    lease_refusals: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Another handle on the same data, writing as instance `id` with leases of `ttl`.
    pub fn instance(&self, id: &str, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: self.inner.clone(),
            holder: LeaseHolder::new(InstanceId::new(id), ttl),
            ..Self::default()
        })
    }

    /// Which instance holds the message's lease, if any (expired or not).
    pub fn lease_owner(&self, id: &MessageId) -> Option<String> {
        lock(&self.inner)
            .leases
            .get(id)
            .map(|(owner, _)| owner.as_str().to_owned())
    }

    /// Which of these updates the fence refuses, given the batch's own earlier writes.
    fn refused(&self, inner: &MemoryInner, writes: &[MessageWrite]) -> Vec<MessageId> {
        let mut status: HashMap<&MessageId, MessageStatus> = HashMap::new();
        let mut refused = Vec::new();
        for write in writes {
            let MessageWrite::Update { message, event } = write else {
                continue;
            };
            let Some(stored) = inner.messages.get(&message.id) else {
                continue;
            };
            let now = *status.get(&message.id).unwrap_or(&stored.status);
            let from = previous_status(write);
            let owned = inner
                .leases
                .get(&message.id)
                .is_some_and(|(owner, _)| *owner == self.holder.instance);
            let fits = from.is_none_or(|from| from == now);
            let allowed = owned || from.is_some_and(|from| is_receipt(from, event.status));
            if fits && allowed {
                status.insert(&message.id, event.status);
            } else if !refused.contains(&message.id) {
                refused.push(message.id.clone());
            }
        }
        refused
    }

    fn claim(&self, max: usize, free: impl Fn(&InstanceId, bool) -> bool) -> Vec<Message> {
        let now = tokio::time::Instant::now();
        let until = now + self.holder.ttl;
        let mut inner = lock(&self.inner);
        let ids: Vec<MessageId> = inner
            .messages
            .values()
            .filter(|m| !m.status.is_final())
            .filter(|m| match inner.leases.get(&m.id) {
                Some((owner, until)) => free(owner, *until <= now),
                None => true,
            })
            .take(max)
            .map(|m| m.id.clone())
            .collect();
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            inner
                .leases
                .insert(id.clone(), (self.holder.instance.clone(), until));
            if let Some(m) = inner.messages.get(&id) {
                claimed.push(m.clone());
            }
        }
        claimed
    }

    /// Lets a commit refused for a lost lease answer `after` the fence was decided, as a server
    /// whose answer is slow: meanwhile the lease can change hands again.
    pub fn answer_refusals_late(&self, after: Duration) {
        *lock(&self.late_refusal) = after;
    }

    /// How many commits this handle refused for a lost lease (counted when decided).
    pub fn lease_refusals(&self) -> usize {
        self.lease_refusals.load(Ordering::SeqCst)
    }

    /// Hands the message's lease to `instance` until `until` (expired when in the past), as if
    /// that instance had claimed it.
    pub fn hand_lease(&self, id: &MessageId, instance: &str, until: tokio::time::Instant) {
        lock(&self.inner)
            .leases
            .insert(id.clone(), (InstanceId::new(instance), until));
    }

    /// Makes `claim_expired` on this handle hang forever (a store that never answers a claim).
    pub fn stall_claims(&self, stalled: bool) {
        self.stalled_claims.store(stalled, Ordering::SeqCst);
    }

    /// How many lease renewals this handle ran.
    pub fn renewal_count(&self) -> usize {
        self.renewals.load(Ordering::SeqCst)
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many commits ran: fewer than writes shows that writes were batched.
    pub fn commit_count(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    /// Commits refused by an injected failure.
    pub fn refused_count(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// How many times a message was looked up by its provider's id (receipts do that).
    pub fn provider_id_lookups(&self) -> usize {
        self.provider_id_lookups.load(Ordering::SeqCst)
    }

    pub fn message_count(&self) -> usize {
        lock(&self.inner).messages.len()
    }

    /// Puts a message in the store as if an earlier process had written it.
    pub fn seed_message(&self, message: Message) {
        lock(&self.inner)
            .messages
            .insert(message.id.clone(), message);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("injected store failure".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl crate::ports::AlertLog for MemoryStore {
    async fn record_alert(&self, alert: &crate::alerts::Alert) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if !inner
            .alerts
            .iter()
            .any(|a| a.id == alert.id && a.notice == alert.notice)
        {
            inner.alerts.push(alert.clone());
        }
        Ok(())
    }

    async fn alert_history(
        &self,
        query: &crate::alerts::AlertQuery,
    ) -> Result<Vec<crate::alerts::Alert>, StoreError> {
        self.check()?;
        let mut found: Vec<_> = lock(&self.inner)
            .alerts
            .iter()
            .filter(|a| query.matches(a))
            .cloned()
            .collect();
        found.sort_by(crate::alerts::newest_first);
        found.truncate(query.limit);
        Ok(found)
    }
}

impl MemoryStore {
    /// The writes of one commit, all or nothing, as the real stores' one transaction.
    fn apply(&self, writes: &[MessageWrite]) -> Result<Vec<WriteOutcome>, StoreError> {
        if let Err(err) = self.check() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(err);
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        let mut inner = lock(&self.inner);
        let refused = self.refused(&inner, writes);
        if !refused.is_empty() {
            self.lease_refusals.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::LeaseLost(refused));
        }
        // All or nothing, as the real stores' one transaction: an update of a message that is
        // neither stored nor inserted earlier in the batch fails the batch before any write.
        let mut inserted: Vec<&MessageId> = Vec::new();
        for write in writes {
            match write {
                MessageWrite::Insert(m) => inserted.push(&m.id),
                MessageWrite::Update { message, .. } => {
                    if !inner.messages.contains_key(&message.id) && !inserted.contains(&&message.id)
                    {
                        return Err(StoreError::NotFound(message.id.to_string()));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(writes.len());
        for write in writes {
            match write {
                MessageWrite::Insert(m) => {
                    if let Some(key) = &m.idempotency_key {
                        if let Some(existing) = inner.keys.get(key) {
                            out.push(WriteOutcome::DuplicateIdempotencyKey(existing.clone()));
                            continue;
                        }
                        inner.keys.insert(key.clone(), m.id.clone());
                    }
                    inner.messages.insert(m.id.clone(), (**m).clone());
                    let until = tokio::time::Instant::now() + self.holder.ttl;
                    inner
                        .leases
                        .insert(m.id.clone(), (self.holder.instance.clone(), until));
                    out.push(WriteOutcome::Applied);
                }
                MessageWrite::Update { message, event } => {
                    let Some(stored) = inner.messages.get_mut(&message.id) else {
                        return Err(StoreError::NotFound(message.id.to_string()));
                    };
                    let mut events = std::mem::take(&mut stored.events);
                    events.push(event.clone());
                    *stored = Message {
                        events,
                        ..(**message).clone()
                    };
                    out.push(WriteOutcome::Applied);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }

    async fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.inner).messages.get(id).cloned())
    }

    async fn message_by_provider_id(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        self.provider_id_lookups.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.inner)
            .messages
            .values()
            .find(|m| {
                m.provider.as_deref() == Some(provider)
                    && m.provider_message_id.as_deref() == Some(provider_message_id)
            })
            .cloned())
    }

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
        let inner = lock(&self.inner);
        Ok(inner
            .keys
            .get(key)
            .and_then(|id| inner.messages.get(id))
            .cloned())
    }

    async fn messages(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let inner = lock(&self.inner);
        let mut items: Vec<Message> = inner
            .messages
            .values()
            .rev()
            .filter(|m| page.after.as_ref().is_none_or(|after| m.id < *after))
            .filter(|m| filter.matches(m))
            .take(page.first + 1)
            .cloned()
            .collect();
        let has_next_page = items.len() > page.first;
        items.truncate(page.first);
        Ok(Page {
            items,
            has_next_page,
        })
    }

    async fn unfinished_messages(&self) -> Result<Vec<Message>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner)
            .messages
            .values()
            .filter(|m| !m.status.is_final())
            .cloned()
            .collect())
    }

    async fn providers(&self) -> Result<Vec<ProviderConfig>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).providers.clone())
    }

    async fn provider(&self, id: &ProviderId) -> Result<Option<ProviderConfig>, StoreError> {
        Ok(lock(&self.inner)
            .providers
            .iter()
            .find(|p| p.id == *id)
            .cloned())
    }

    async fn insert_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if inner.providers.iter().any(|p| p.slug == provider.slug) {
            return Err(StoreError::Conflict(format!("provider {}", provider.slug)));
        }
        inner.providers.push(provider.clone());
        Ok(())
    }

    async fn update_provider(&self, provider: &ProviderConfig) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let slot = inner
            .providers
            .iter_mut()
            .find(|p| p.id == provider.id)
            .ok_or_else(|| StoreError::NotFound(provider.id.to_string()))?;
        *slot = provider.clone();
        Ok(())
    }

    async fn delete_provider(&self, id: &ProviderId) -> Result<bool, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let before = inner.providers.len();
        inner.providers.retain(|p| p.id != *id);
        Ok(inner.providers.len() != before)
    }

    async fn set_default_provider(&self, id: &ProviderId) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if !inner.providers.iter().any(|p| p.id == *id) {
            return Err(StoreError::NotFound(id.to_string()));
        }
        for p in &mut inner.providers {
            p.is_default = p.id == *id;
        }
        Ok(())
    }

    async fn commit_with_statistics(
        &self,
        writes: &[MessageWrite],
        stats: &[StatsDelta],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let outcomes = match self.apply(writes) {
            Err(StoreError::LeaseLost(refused)) => {
                let late = *lock(&self.late_refusal);
                if !late.is_zero() {
                    tokio::time::sleep(late).await;
                }
                return Err(StoreError::LeaseLost(refused));
            }
            other => other?,
        };
        // No second `check`: a failure injected between the two steps would keep the writes
        // and refuse their figures, which the real store's one transaction cannot do.
        merge_stats(&mut lock(&self.inner).stats, stats);
        Ok(outcomes)
    }

    async fn statistics(&self, query: &StatsQuery) -> Result<Vec<StatsDelta>, StoreError> {
        let mut rows: Vec<StatsDelta> = lock(&self.inner)
            .stats
            .values()
            .filter(|d| query.matches(d))
            .cloned()
            .collect();
        // The real stores' order (day, hour, provider, type), not the hash map's.
        rows.sort_by(|a, b| {
            (a.day, a.hour, &a.provider, a.message_type.as_str()).cmp(&(
                b.day,
                b.hour,
                &b.provider,
                b.message_type.as_str(),
            ))
        });
        Ok(rows)
    }

    async fn rebuild_statistics(&self, day: NaiveDate) -> Result<StatsRebuild, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let after = rows_for_day(day, inner.messages.values());
        let before = merge_rows(inner.stats.values().filter(|d| d.day == day).cloned());
        inner.stats.retain(|(d, ..), _| *d != day);
        merge_stats(&mut inner.stats, &after);
        Ok(StatsRebuild { day, before, after })
    }
}

#[async_trait]
impl Leases for MemoryStore {
    fn holder(&self) -> &LeaseHolder {
        &self.holder
    }

    async fn renew_leases(&self) -> Result<u64, StoreError> {
        self.check()?;
        self.renewals.fetch_add(1, Ordering::SeqCst);
        let until = tokio::time::Instant::now() + self.holder.ttl;
        let mut inner = lock(&self.inner);
        let MemoryInner {
            messages, leases, ..
        } = &mut *inner;
        let mut renewed = 0;
        for (id, (owner, lease_until)) in leases.iter_mut() {
            let unfinished = messages.get(id).is_some_and(|m| !m.status.is_final());
            if *owner == self.holder.instance && unfinished {
                *lease_until = until;
                renewed += 1;
            }
        }
        Ok(renewed)
    }

    async fn claim_at_start(&self) -> Result<Vec<Message>, StoreError> {
        self.check()?;
        let me = self.holder.instance.clone();
        Ok(self.claim(usize::MAX, |owner, expired| expired || *owner == me))
    }

    async fn claim_expired(&self, max: usize) -> Result<Vec<Message>, StoreError> {
        self.check()?;
        if self.stalled_claims.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let me = self.holder.instance.clone();
        Ok(self.claim(max, |owner, expired| expired && *owner != me))
    }

    async fn held(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        self.check()?;
        let inner = lock(&self.inner);
        let mine = inner
            .leases
            .get(id)
            .is_some_and(|(owner, _)| *owner == self.holder.instance);
        Ok(inner
            .messages
            .get(id)
            .filter(|m| mine && !m.status.is_final())
            .cloned())
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        let now = tokio::time::Instant::now();
        for (owner, until) in lock(&self.inner).leases.values_mut() {
            if *owner == self.holder.instance {
                *until = now;
            }
        }
        Ok(())
    }
}

type StatsTable = HashMap<(NaiveDate, u32, String, crate::domain::MessageType), StatsDelta>;

fn merge_stats(table: &mut StatsTable, deltas: &[StatsDelta]) {
    for d in deltas {
        table
            .entry((d.day, d.hour, d.provider.clone(), d.message_type))
            .and_modify(|acc| acc.merge(d))
            .or_insert_with(|| d.clone());
    }
}
