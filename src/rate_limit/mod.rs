//! Limits on what callers may do: per token (requests per second with a burst, and messages
//! per second apart from the requests they came in: every `sendSms` field and REST send is
//! one), per recipient number per message type (for example at most 5 OTP per number per
//! hour), and optionally what a token may spend per UTC day. Refusals are counted in
//! `smsgate_rate_limited_total{limit}`.
//!
//! On one instance the allowances are token buckets in memory: a restart forgets them, which
//! errs on the side of letting messages through. With several instances on one MongoDB
//! database the message allowances (token sends, recipients, spend) are counted in the
//! database instead (`shared`), so they hold for all instances together; should the database
//! not answer, the local buckets decide. The sends per second each provider allows are not
//! refused here but paced where the calls are made: `providers::http::RateLimiter`.

mod buckets;
mod shared;
mod spend;
#[cfg(test)]
mod tests;

pub use buckets::Buckets;
pub use shared::SharedCounters;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prometheus::{IntCounterVec, Opts};
use shared::Window;
use smsgate_actors::{
    domain::{MessageType, Money, E164},
    ports::{AcceptLimiter, Admission, Refusal},
};
use spend::DailySpend;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// The configured limits; a limit set to 0 is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Requests per second per token, and the messages each token may send per second: the
    /// two are counted apart, so a request of many `sendSms` fields is charged each of them.
    pub per_token_per_second: u32,
    pub per_token_burst: u32,
    pub otp_per_recipient_per_hour: u32,
    pub transactional_per_recipient_per_hour: u32,
    pub marketing_per_recipient_per_hour: u32,
    /// What one token may spend per UTC day, in eurocents.
    pub spend_per_token_per_day_cents: u64,
}

impl LimitSettings {
    pub fn per_recipient_per_hour(&self, message_type: MessageType) -> u32 {
        match message_type {
            MessageType::Otp => self.otp_per_recipient_per_hour,
            MessageType::Transactional => self.transactional_per_recipient_per_hour,
            MessageType::Marketing => self.marketing_per_recipient_per_hour,
        }
    }

    /// A token's burst: at least one second's worth.
    fn token_burst(&self) -> u32 {
        self.per_token_burst.max(self.per_token_per_second)
    }

    fn spend_ceiling(&self) -> Money {
        let cents = i64::try_from(self.spend_per_token_per_day_cents).unwrap_or(i64::MAX);
        Money::from_millicents(cents.saturating_mul(1000))
    }
}

/// What a message is counted at against the spend ceiling when no active provider states its
/// price per part: about the dearest European rate, so the ceiling errs on the safe side.
pub const UNKNOWN_PRICE_PER_PART_CENTS: f64 = 10.0;

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct RateLimits {
    settings: LimitSettings,
    /// Requests per token.
    per_token: Option<Buckets>,
    /// Messages per token, whatever the requests they came in.
    per_token_sends: Option<Buckets>,
    per_recipient: HashMap<MessageType, Buckets>,
    spend: Option<DailySpend>,
    /// The counters every instance shares, when there are several.
    shared: Option<SharedStore>,
    refused: IntCounterVec,
}

/// `SharedCounters` made printable for `RateLimits`' Debug.
struct SharedStore(Arc<dyn SharedCounters>);

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCounters")
    }
}

impl RateLimits {
    pub fn new(
        settings: LimitSettings,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let refused = IntCounterVec::new(
            Opts::new(
                "smsgate_rate_limited_total",
                "Requests or messages refused by a limit, by limit (token, token_sends, \
                 recipient, spend, auth).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        let token_buckets = || {
            (settings.per_token_per_second > 0).then(|| {
                Buckets::new(
                    f64::from(settings.per_token_per_second),
                    settings.token_burst(),
                )
            })
        };
        let per_recipient = MessageType::ALL
            .into_iter()
            .map(|ty| (ty, settings.per_recipient_per_hour(ty)))
            .filter(|(_, per_hour)| *per_hour > 0)
            .map(|(ty, per_hour)| (ty, Buckets::new(f64::from(per_hour) / 3600.0, per_hour)))
            .collect();
        Ok(Self {
            settings,
            per_token: token_buckets(),
            per_token_sends: token_buckets(),
            per_recipient,
            spend: (settings.spend_per_token_per_day_cents > 0)
                .then(|| DailySpend::new(settings.spend_ceiling())),
            shared: None,
            refused,
        })
    }

    /// Counts the message allowances in `counters`, which every instance shares.
    pub fn with_shared(mut self, counters: Arc<dyn SharedCounters>) -> Self {
        self.shared = Some(SharedStore(counters));
        self
    }

    /// The refusal counter of a limit kept elsewhere (`auth`: failed authentications per
    /// address), so every refusal is in the one `smsgate_rate_limited_total`.
    pub fn refused_counter(&self, limit: &str) -> prometheus::IntCounter {
        self.refused.with_label_values(&[limit])
    }

    /// One request by the token named `caller`.
    pub fn check_token(&self, caller: &str) -> Result<(), Duration> {
        let Some(buckets) = &self.per_token else {
            return Ok(());
        };
        buckets.take(caller, Instant::now()).inspect_err(|_| {
            self.refused.with_label_values(&["token"]).inc();
            tracing::info!(caller, "request refused: token rate limit");
        })
    }

    /// Takes one message of `message_type` from the recipient's allowance in this process's
    /// buckets, or says how long until one is free.
    pub fn check_recipient(&self, to: &E164, message_type: MessageType) -> Result<(), Duration> {
        let Some(buckets) = self.per_recipient.get(&message_type) else {
            return Ok(());
        };
        buckets.take(to.as_str(), Instant::now())
    }

    /// The window a token's sends are counted in when shared: as long as the burst takes to
    /// refill, so the sustained rate is the configured one.
    fn token_window(&self) -> Window {
        let seconds =
            f64::from(self.settings.token_burst()) / f64::from(self.settings.per_token_per_second);
        Window::of(Duration::from_secs_f64(seconds.max(1.0)), Utc::now())
    }

    /// Takes from a shared counter when there is one; `None` means "decide locally" (no shared
    /// store, or it did not answer).
    async fn take_shared(
        &self,
        kind: &str,
        key: &str,
        amount: i64,
        limit: i64,
        window: Window,
    ) -> Option<Result<(), Duration>> {
        let counters = &self.shared.as_ref()?.0;
        match shared::take(
            counters.as_ref(),
            kind,
            key,
            amount,
            limit,
            window,
            Utc::now(),
        )
        .await
        {
            Ok(None) => Some(Ok(())),
            Ok(Some(wait)) => Some(Err(wait)),
            Err(err) => {
                tracing::warn!(error.message = %err, limit = kind, "shared limit unavailable; counted locally");
                None
            }
        }
    }

    async fn give_back_shared(&self, kind: &str, key: &str, amount: i64, window: Window) -> bool {
        let Some(SharedStore(counters)) = &self.shared else {
            return false;
        };
        match shared::give_back(counters.as_ref(), kind, key, amount, window).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error.message = %err, limit = kind, "could not give back a shared allowance");
                true
            }
        }
    }

    async fn take_token_send(&self, caller: &str) -> Result<(), Refusal> {
        let Some(buckets) = &self.per_token_sends else {
            return Ok(());
        };
        let limit = i64::from(self.settings.token_burst());
        let outcome = match self
            .take_shared("token_sends", caller, 1, limit, self.token_window())
            .await
        {
            Some(outcome) => outcome,
            None => buckets.take(caller, Instant::now()),
        };
        outcome.map_err(|retry_after| {
            self.refused.with_label_values(&["token_sends"]).inc();
            tracing::info!(caller, "message refused: token send rate");
            Refusal {
                retry_after,
                reason: format!(
                    "the token's send rate of {} messages per second",
                    self.settings.per_token_per_second
                ),
            }
        })
    }

    async fn give_back_token_send(&self, caller: &str) {
        if let Some(buckets) = &self.per_token_sends {
            if !self
                .give_back_shared("token_sends", caller, 1, self.token_window())
                .await
            {
                buckets.give_back(caller);
            }
        }
    }

    async fn take_recipient(&self, to: &E164, message_type: MessageType) -> Result<(), Refusal> {
        let per_hour = self.settings.per_recipient_per_hour(message_type);
        if per_hour == 0 {
            return Ok(());
        }
        let kind = recipient_kind(message_type);
        let window = Window::of(HOUR, Utc::now());
        let outcome = match self
            .take_shared(kind, to.as_str(), 1, i64::from(per_hour), window)
            .await
        {
            Some(outcome) => outcome,
            None => self.check_recipient(to, message_type),
        };
        outcome.map_err(|retry_after| {
            self.refused.with_label_values(&["recipient"]).inc();
            tracing::info!(
                message_type = message_type.as_str(),
                "message refused: recipient rate limit"
            );
            Refusal {
                retry_after,
                reason: format!(
                    "the recipient's allowance of {per_hour} {} messages per hour",
                    message_type.as_str()
                ),
            }
        })
    }

    async fn give_back_recipient(&self, to: &E164, message_type: MessageType) {
        let Some(buckets) = self.per_recipient.get(&message_type) else {
            return;
        };
        let window = Window::of(HOUR, Utc::now());
        if !self
            .give_back_shared(recipient_kind(message_type), to.as_str(), 1, window)
            .await
        {
            buckets.give_back(to.as_str());
        }
    }

    async fn take_spend(&self, caller: &str, cost: Money) -> Result<(), Refusal> {
        let Some(spend) = &self.spend else {
            return Ok(());
        };
        let now = Utc::now();
        let ceiling = self.settings.spend_ceiling();
        let outcome = match self
            .take_shared(
                "spend",
                caller,
                cost.millicents(),
                ceiling.millicents(),
                Window::of(DAY, now),
            )
            .await
        {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(spend::refusal(ceiling, ceiling, now)),
            None => spend.take(caller, cost, now),
        };
        outcome.inspect_err(|_| {
            self.refused.with_label_values(&["spend"]).inc();
            tracing::warn!(caller, "message refused: the token's daily spend ceiling");
        })
    }

    async fn give_back_spend(&self, caller: &str, cost: Money) {
        let Some(spend) = &self.spend else {
            return;
        };
        let now: DateTime<Utc> = Utc::now();
        if !self
            .give_back_shared("spend", caller, cost.millicents(), Window::of(DAY, now))
            .await
        {
            spend.give_back(caller, cost, now);
        }
    }

    /// What a message counts against the spend ceiling.
    fn charge(admission: &Admission<'_>) -> Money {
        admission
            .estimated_cost
            .unwrap_or_else(|| Money::from_cents(UNKNOWN_PRICE_PER_PART_CENTS) * admission.segments)
    }
}

fn recipient_kind(message_type: MessageType) -> &'static str {
    match message_type {
        MessageType::Otp => "recipient_otp",
        MessageType::Transactional => "recipient_transactional",
        MessageType::Marketing => "recipient_marketing",
    }
}

/// The engine asks before it stores a new message; an idempotent repeat never reaches this.
/// Each allowance is taken in turn, and what was taken is given back when a later one refuses,
/// so a refused message uses nothing.
#[async_trait]
impl AcceptLimiter for RateLimits {
    async fn try_take(&self, admission: &Admission<'_>) -> Result<(), Refusal> {
        if let Some(caller) = admission.sent_by {
            self.take_token_send(caller).await?;
        }
        if let Err(refusal) = self
            .take_recipient(admission.to, admission.message_type)
            .await
        {
            if let Some(caller) = admission.sent_by {
                self.give_back_token_send(caller).await;
            }
            return Err(refusal);
        }
        if let Some(caller) = admission.sent_by {
            if let Err(refusal) = self.take_spend(caller, Self::charge(admission)).await {
                self.give_back_token_send(caller).await;
                self.give_back_recipient(admission.to, admission.message_type)
                    .await;
                return Err(refusal);
            }
        }
        Ok(())
    }

    async fn give_back(&self, admission: &Admission<'_>) {
        if let Some(caller) = admission.sent_by {
            self.give_back_token_send(caller).await;
            self.give_back_spend(caller, Self::charge(admission)).await;
        }
        self.give_back_recipient(admission.to, admission.message_type)
            .await;
    }
}
