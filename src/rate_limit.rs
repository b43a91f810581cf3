//! Rate limits: per token (requests per second with a burst) and per recipient number per
//! message type (for example at most 5 OTP per number per hour). Both are token buckets: a
//! bucket holds up to `burst` requests and refills at `rate` per second, so a refusal can say
//! exactly when the next request would pass. Refusals are counted in
//! `smsgate_rate_limited_total{limit}`.
//!
//! Each token is also limited in the messages it sends (every `sendSms` field and REST send is
//! one, however many arrive in one request) and, when set, in what it spends per UTC day.
//!
//! Limits are kept in memory, per process: a restart forgets them, which errs on the side of
//! letting messages through. The sends per second each provider allows are not refused here but
//! paced where the calls are made: the token bucket in `providers::http::RateLimiter`.

use chrono::{DateTime, NaiveDate, Utc};
use prometheus::{IntCounterVec, Opts};
use smsgate_actors::{
    domain::{MessageType, Money, E164},
    ports::{AcceptLimiter, Admission, Refusal},
};
use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Above this many keys, full buckets (nothing to remember) are dropped, so a flood of distinct
/// numbers cannot grow the map without bound.
const PRUNE_ABOVE: usize = 10_000;

/// Token buckets by key.
#[derive(Debug)]
pub struct Buckets {
    /// Requests regained per second.
    rate: f64,
    burst: f64,
    state: Mutex<HashMap<String, (f64, Instant)>>,
    /// The size that triggers the next prune. It doubles past what a prune could not drop, so
    /// many live buckets (an hour of OTP recipients) cost one scan per doubling, not per call.
    prune_at: std::sync::atomic::AtomicUsize,
    /// When the last prune ran: above `PRUNE_ABOVE` keys a prune also runs once a second, so
    /// buckets that refilled meanwhile are dropped even before the size doubles.
    last_prune: Mutex<Option<Instant>>,
}

impl Buckets {
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        Self {
            rate: rate_per_second,
            burst: f64::from(burst.max(1)),
            state: Mutex::new(HashMap::new()),
            prune_at: std::sync::atomic::AtomicUsize::new(PRUNE_ABOVE),
            last_prune: Mutex::new(None),
        }
    }

    /// Takes one request from `key`'s bucket at `now`, or says how long until one is there.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let prune_at = self.prune_at.load(std::sync::atomic::Ordering::Relaxed);
        let mut last_prune = self
            .last_prune
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let a_second_since =
            last_prune.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1));
        if state.len() > prune_at || (state.len() > PRUNE_ABOVE && a_second_since) {
            *last_prune = Some(now);
            let (rate, burst) = (self.rate, self.burst);
            state.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            let next = (state.len() * 2).max(PRUNE_ABOVE);
            self.prune_at
                .store(next, std::sync::atomic::Ordering::Relaxed);
        }
        let (tokens, at) = state.entry(key.to_owned()).or_insert((self.burst, now));
        let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.rate))
        }
    }

    /// Returns one request to `key`'s bucket (it was taken for something that did not happen).
    pub fn give_back(&self, key: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((tokens, _)) = state.get_mut(key) {
            *tokens = (*tokens + 1.0).min(self.burst);
        }
    }
}

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

/// What a message is counted at against the spend ceiling when no active provider states its
/// price per part: about the dearest European rate, so the ceiling errs on the safe side.
pub const UNKNOWN_PRICE_PER_PART_CENTS: f64 = 10.0;

#[derive(Debug)]
pub struct RateLimits {
    settings: LimitSettings,
    /// Requests per token.
    per_token: Option<Buckets>,
    /// Messages per token, whatever the requests they came in.
    per_token_sends: Option<Buckets>,
    per_recipient: HashMap<MessageType, Buckets>,
    spend: Option<DailySpend>,
    refused: IntCounterVec,
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
                 recipient, spend).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        let token_buckets = || {
            (settings.per_token_per_second > 0).then(|| {
                Buckets::new(
                    f64::from(settings.per_token_per_second),
                    settings.per_token_burst.max(settings.per_token_per_second),
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
            spend: (settings.spend_per_token_per_day_cents > 0).then(|| {
                DailySpend::new(Money::from_millicents(
                    i64::try_from(settings.spend_per_token_per_day_cents)
                        .unwrap_or(i64::MAX / 1000)
                        .saturating_mul(1000),
                ))
            }),
            refused,
        })
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

    /// Takes one message of `message_type` from the recipient's allowance, or says how long
    /// until one is free.
    pub fn check_recipient(&self, to: &E164, message_type: MessageType) -> Result<(), Duration> {
        let Some(buckets) = self.per_recipient.get(&message_type) else {
            return Ok(());
        };
        buckets.take(to.as_str(), Instant::now()).inspect_err(|_| {
            self.refused.with_label_values(&["recipient"]).inc();
            tracing::info!(
                message_type = message_type.as_str(),
                "message refused: recipient rate limit"
            );
        })
    }

    fn check_token_sends(&self, caller: &str) -> Result<(), Refusal> {
        let Some(buckets) = &self.per_token_sends else {
            return Ok(());
        };
        buckets.take(caller, Instant::now()).map_err(|retry_after| {
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

    fn give_back_token_send(&self, caller: &str) {
        if let Some(buckets) = &self.per_token_sends {
            buckets.give_back(caller);
        }
    }

    fn give_back_recipient(&self, to: &E164, message_type: MessageType) {
        if let Some(buckets) = self.per_recipient.get(&message_type) {
            buckets.give_back(to.as_str());
        }
    }

    /// What a message counts against the spend ceiling.
    fn charge(admission: &Admission<'_>) -> Money {
        admission
            .estimated_cost
            .unwrap_or_else(|| Money::from_cents(UNKNOWN_PRICE_PER_PART_CENTS) * admission.segments)
    }
}

impl LimitSettings {
    pub fn per_recipient_per_hour(&self, message_type: MessageType) -> u32 {
        match message_type {
            MessageType::Otp => self.otp_per_recipient_per_hour,
            MessageType::Transactional => self.transactional_per_recipient_per_hour,
            MessageType::Marketing => self.marketing_per_recipient_per_hour,
        }
    }
}

/// The engine asks before it stores a new message; an idempotent repeat never reaches this.
/// Each allowance is taken in turn, and what was taken is given back when a later one refuses,
/// so a refused message uses nothing.
impl AcceptLimiter for RateLimits {
    fn try_take(&self, admission: &Admission<'_>) -> Result<(), Refusal> {
        if let Some(caller) = admission.sent_by {
            self.check_token_sends(caller)?;
        }
        let undo_token = || {
            if let Some(caller) = admission.sent_by {
                self.give_back_token_send(caller);
            }
        };
        if let Err(retry_after) = self.check_recipient(admission.to, admission.message_type) {
            undo_token();
            return Err(Refusal {
                retry_after,
                reason: format!(
                    "the recipient's allowance of {} {} messages per hour",
                    self.settings.per_recipient_per_hour(admission.message_type),
                    admission.message_type.as_str()
                ),
            });
        }
        if let (Some(spend), Some(caller)) = (&self.spend, admission.sent_by) {
            if let Err(refusal) = spend.take(caller, Self::charge(admission), Utc::now()) {
                undo_token();
                self.give_back_recipient(admission.to, admission.message_type);
                self.refused.with_label_values(&["spend"]).inc();
                tracing::warn!(caller, "message refused: the token's daily spend ceiling");
                return Err(refusal);
            }
        }
        Ok(())
    }

    fn give_back(&self, admission: &Admission<'_>) {
        if let Some(caller) = admission.sent_by {
            self.give_back_token_send(caller);
            if let Some(spend) = &self.spend {
                spend.give_back(caller, Self::charge(admission), Utc::now());
            }
        }
        self.give_back_recipient(admission.to, admission.message_type);
    }
}

/// What each token spent today (UTC), against one ceiling. One entry per token: tokens are
/// few and named by the operator, so the map stays small.
#[derive(Debug)]
struct DailySpend {
    ceiling: Money,
    spent: Mutex<HashMap<String, (NaiveDate, Money)>>,
}

impl DailySpend {
    fn new(ceiling: Money) -> Self {
        Self {
            ceiling,
            spent: Mutex::new(HashMap::new()),
        }
    }

    fn take(&self, caller: &str, cost: Money, now: DateTime<Utc>) -> Result<(), Refusal> {
        let today = now.date_naive();
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let (day, total) = spent
            .entry(caller.to_owned())
            .or_insert((today, Money::ZERO));
        if *day != today {
            *day = today;
            *total = Money::ZERO;
        }
        if *total + cost > self.ceiling {
            let midnight = today
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            let retry_after = midnight
                .and_then(|m| (m - now).to_std().ok())
                .unwrap_or(Duration::from_secs(3600));
            return Err(Refusal {
                retry_after,
                reason: format!(
                    "the token's daily spend ceiling of {:.2} euro: {:.2} counted today",
                    self.ceiling.cents() / 100.0,
                    total.cents() / 100.0
                ),
            });
        }
        *total += cost;
        Ok(())
    }

    fn give_back(&self, caller: &str, cost: Money, now: DateTime<Utc>) {
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((day, total)) = spent.get_mut(caller) {
            if *day == now.date_naive() {
                *total = *total - cost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_until_it_refills() {
        let buckets = Buckets::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(buckets.take("a", t0), Ok(()));
        }
        let wait = buckets.take("a", t0).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "one request regained per 1/rate s"
        );
        assert_eq!(buckets.take("b", t0), Ok(()), "keys are independent");
        assert!(buckets.take("a", t0 + Duration::from_millis(499)).is_err());
        assert_eq!(
            buckets.take("a", t0 + Duration::from_millis(1000)),
            Ok(()),
            "recovered"
        );
    }

    fn n(raw: &str) -> E164 {
        E164::parse(raw).unwrap()
    }

    #[test]
    fn five_otp_per_number_per_hour() {
        let limits = RateLimits::new(
            LimitSettings {
                per_token_per_second: 0,
                per_token_burst: 0,
                otp_per_recipient_per_hour: 5,
                transactional_per_recipient_per_hour: 0,
                marketing_per_recipient_per_hour: 0,
                spend_per_token_per_day_cents: 0,
            },
            &prometheus::Registry::new(),
        )
        .unwrap();
        for _ in 0..5 {
            assert_eq!(
                limits.check_recipient(&n("0755123456"), MessageType::Otp),
                Ok(())
            );
        }
        // The same number written another way is the same recipient.
        let wait = limits
            .check_recipient(&n("+40 755 123 456"), MessageType::Otp)
            .unwrap_err();
        assert!(
            wait > Duration::from_secs(700) && wait <= Duration::from_secs(720),
            "{wait:?}"
        );
        assert_eq!(
            limits.check_recipient(&n("0755123456"), MessageType::Transactional),
            Ok(())
        );
        assert_eq!(
            limits.check_recipient(&n("0755000000"), MessageType::Otp),
            Ok(())
        );
        assert_eq!(limits.refused.with_label_values(&["recipient"]).get(), 1);
        assert_eq!(limits.check_token("anyone"), Ok(()), "token limit off");
        // A message that was not accepted after all gives its place back.
        let to = n("0755123456");
        AcceptLimiter::give_back(&limits, &admission(None, &to, MessageType::Otp, 1));
        assert_eq!(
            limits.check_recipient(&n("0755123456"), MessageType::Otp),
            Ok(())
        );
    }

    fn admission<'a>(
        sent_by: Option<&'a str>,
        to: &'a E164,
        message_type: MessageType,
        segments: u32,
    ) -> Admission<'a> {
        Admission {
            sent_by,
            to,
            message_type,
            segments,
            estimated_cost: Some(Money::from_cents(2.0) * segments),
        }
    }

    fn limits(settings: LimitSettings) -> RateLimits {
        RateLimits::new(settings, &prometheus::Registry::new()).unwrap()
    }

    const OFF: LimitSettings = LimitSettings {
        per_token_per_second: 0,
        per_token_burst: 0,
        otp_per_recipient_per_hour: 0,
        transactional_per_recipient_per_hour: 0,
        marketing_per_recipient_per_hour: 0,
        spend_per_token_per_day_cents: 0,
    };

    #[test]
    fn each_message_is_charged_to_its_token_apart_from_the_requests() {
        let limits = limits(LimitSettings {
            per_token_per_second: 5,
            per_token_burst: 5,
            ..OFF
        });
        let to: Vec<E164> = (0..10).map(|i| n(&format!("07551234{i:02}"))).collect();
        let taken = to
            .iter()
            .filter(|to| {
                limits
                    .try_take(&admission(Some("shop"), to, MessageType::Transactional, 1))
                    .is_ok()
            })
            .count();
        assert_eq!(taken, 5, "the burst, whatever the request they came in");
        let refusal = limits
            .try_take(&admission(
                Some("shop"),
                &to[0],
                MessageType::Transactional,
                1,
            ))
            .unwrap_err();
        assert!(refusal.reason.contains("send rate"), "{}", refusal.reason);
        assert!(limits
            .try_take(&admission(
                Some("other"),
                &to[0],
                MessageType::Transactional,
                1
            ))
            .is_ok());
        assert_eq!(
            limits.check_token("shop"),
            Ok(()),
            "requests are counted apart"
        );
        assert_eq!(limits.refused.with_label_values(&["token_sends"]).get(), 6);
    }

    #[test]
    fn a_token_spends_at_most_its_daily_ceiling_and_a_refusal_takes_nothing() {
        let limits = limits(LimitSettings {
            otp_per_recipient_per_hour: 5,
            spend_per_token_per_day_cents: 10,
            ..OFF
        });
        let to = n("0755123456");
        // 2 cents a part: 3 parts, then 2 parts, fill 10 cents.
        assert!(limits
            .try_take(&admission(Some("shop"), &to, MessageType::Otp, 3))
            .is_ok());
        assert!(limits
            .try_take(&admission(Some("shop"), &to, MessageType::Otp, 2))
            .is_ok());
        let refusal = limits
            .try_take(&admission(Some("shop"), &to, MessageType::Otp, 1))
            .unwrap_err();
        assert!(
            refusal.reason.contains("daily spend ceiling of 0.10 euro"),
            "{}",
            refusal.reason
        );
        assert!(refusal.retry_after <= Duration::from_secs(24 * 3600));
        // The refused message gave back the recipient allowance it had taken: 3 more fit.
        for _ in 0..3 {
            assert!(limits
                .try_take(&admission(Some("other"), &to, MessageType::Otp, 1))
                .is_ok());
        }
        assert!(limits
            .try_take(&admission(Some("other"), &to, MessageType::Otp, 1))
            .is_err());
        // A message not accepted after all gives its spend back.
        limits.give_back(&admission(Some("shop"), &to, MessageType::Otp, 2));
        let other = n("0755000001");
        assert!(limits
            .try_take(&admission(Some("shop"), &other, MessageType::Otp, 2))
            .is_ok());
    }

    #[test]
    fn a_price_nobody_states_is_counted_at_the_safe_estimate() {
        let limits = limits(LimitSettings {
            spend_per_token_per_day_cents: 25,
            ..OFF
        });
        let to = n("0755123456");
        let unknown = Admission {
            estimated_cost: None,
            ..admission(Some("shop"), &to, MessageType::Transactional, 1)
        };
        assert!(limits.try_take(&unknown).is_ok());
        assert!(limits.try_take(&unknown).is_ok());
        assert!(limits.try_take(&unknown).is_err(), "10 cents each");
    }

    #[test]
    fn every_type_has_a_recipient_allowance_by_default() {
        let settings = crate::config::Settings::load_from(None, Vec::new()).unwrap();
        for ty in MessageType::ALL {
            assert!(settings.limits.per_recipient_per_hour(ty) > 0, "{ty:?}");
        }
    }

    #[test]
    fn a_flood_of_distinct_keys_does_not_grow_without_bound() {
        let buckets = Buckets::new(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..(PRUNE_ABOVE + 10) {
            let _ = buckets.take(&i.to_string(), t0);
        }
        let _ = buckets.take("late", t0 + Duration::from_secs(1));
        assert!(buckets.state.lock().unwrap().len() < 20);
    }

    #[test]
    fn many_live_buckets_are_not_rescanned_on_every_call() {
        // Nothing refills within the test: no bucket can be dropped.
        let buckets = Buckets::new(0.001, 5);
        let t0 = Instant::now();
        for i in 0..(PRUNE_ABOVE + 10) {
            let _ = buckets.take(&i.to_string(), t0);
        }
        let next = buckets.prune_at.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            next,
            2 * (PRUNE_ABOVE + 1),
            "the next prune waits for twice as many"
        );
    }
}
