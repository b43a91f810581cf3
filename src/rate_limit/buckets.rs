//! Token buckets by key, in memory: a bucket holds up to `burst` and refills at `rate` per
//! second, so a refusal can say exactly when the next one would pass.

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
