//! Rate limits: per token (requests per second with a burst) and per recipient number per
//! message type (for example at most 5 OTP per number per hour). Both are token buckets: a
//! bucket holds up to `burst` requests and refills at `rate` per second, so a refusal can say
//! exactly when the next request would pass. Refusals are counted in
//! `smsgate_rate_limited_total{limit}`.
//!
//! Limits are kept in memory, per process: a restart forgets them, which errs on the side of
//! letting messages through. The sends per second each provider allows are not refused here but
//! paced where the calls are made: the token bucket in `providers::http::RateLimiter`.

use prometheus::{IntCounterVec, Opts};
use smsgate_actors::{
    domain::{MessageType, E164},
    ports::AcceptLimiter,
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
    pub per_token_per_second: u32,
    pub per_token_burst: u32,
    pub otp_per_recipient_per_hour: u32,
    pub transactional_per_recipient_per_hour: u32,
    pub marketing_per_recipient_per_hour: u32,
}

#[derive(Debug)]
pub struct RateLimits {
    per_token: Option<Buckets>,
    per_recipient: HashMap<MessageType, Buckets>,
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
                "Requests refused by a rate limit, by limit (token, recipient).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        let per_token = (settings.per_token_per_second > 0).then(|| {
            Buckets::new(
                f64::from(settings.per_token_per_second),
                settings.per_token_burst.max(settings.per_token_per_second),
            )
        });
        let per_recipient = [
            (MessageType::Otp, settings.otp_per_recipient_per_hour),
            (
                MessageType::Transactional,
                settings.transactional_per_recipient_per_hour,
            ),
            (
                MessageType::Marketing,
                settings.marketing_per_recipient_per_hour,
            ),
        ]
        .into_iter()
        .filter(|(_, per_hour)| *per_hour > 0)
        .map(|(ty, per_hour)| (ty, Buckets::new(f64::from(per_hour) / 3600.0, per_hour)))
        .collect();
        Ok(Self {
            per_token,
            per_recipient,
            refused,
        })
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

    /// One message of `message_type` to `to`. A number that does not parse is let through: the
    /// send itself refuses it with INVALID_INPUT, naming the field.
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
}

/// The engine asks before it stores a new message; an idempotent repeat never reaches this.
impl AcceptLimiter for RateLimits {
    fn try_take(&self, to: &E164, message_type: MessageType) -> Result<(), Duration> {
        self.check_recipient(to, message_type)
    }

    fn give_back(&self, to: &E164, message_type: MessageType) {
        if let Some(buckets) = self.per_recipient.get(&message_type) {
            buckets.give_back(to.as_str());
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
        AcceptLimiter::give_back(&limits, &n("0755123456"), MessageType::Otp);
        assert_eq!(
            limits.check_recipient(&n("0755123456"), MessageType::Otp),
            Ok(())
        );
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
