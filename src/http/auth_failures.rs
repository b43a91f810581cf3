//! Failed authentications per client address: after `auth_failures_per_minute` failures within
//! a minute, every request from that address is refused with 429 until the minute is over,
//! valid token or not, so guessing tokens from one address goes no faster than that.
//!
//! A fixed window per address (not a sliding bucket) so the answer can say exactly when the
//! address may try again. Refusals are counted in `smsgate_rate_limited_total{limit="auth"}`.

use prometheus::IntCounter;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(60);

/// Above this many tracked addresses, the ones whose window is over are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct AuthFailures {
    per_minute: u32,
    /// Per address: when its window started and the failures within it.
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    refused: IntCounter,
}

impl AuthFailures {
    /// `per_minute` of 0 turns the limit off.
    pub fn new(per_minute: u32, refused: IntCounter) -> Self {
        Self {
            per_minute,
            windows: Mutex::default(),
            refused,
        }
    }

    /// Ok, or how long until `addr` may try again.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        match windows.get(&addr) {
            Some((start, failures))
                if *failures >= self.per_minute && now.duration_since(*start) < WINDOW =>
            {
                self.refused.inc();
                tracing::info!(client = %addr, "request refused: too many failed authentications");
                Err(WINDOW.saturating_sub(now.duration_since(*start)))
            }
            _ => Ok(()),
        }
    }

    /// One failed authentication from `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, failures) = windows.entry(addr).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *failures = 0;
        }
        *failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32) -> AuthFailures {
        AuthFailures::new(per_minute, IntCounter::new("refused", "refused").unwrap())
    }

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_minute_is_over() {
        let failures = limiter(3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(failures.check(a, t0), Ok(()));
            failures.failed(a, t0);
        }
        let wait = failures.check(a, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert_eq!(failures.check(b, t0), Ok(()), "per address");
        assert_eq!(failures.check(a, t0 + WINDOW), Ok(()), "the window passed");
        failures.failed(a, t0 + WINDOW);
        assert_eq!(failures.check(a, t0 + WINDOW), Ok(()), "a new window");
        assert_eq!(failures.refused.get(), 1);
    }

    #[test]
    fn zero_turns_it_off() {
        let failures = limiter(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..100 {
            failures.failed(a, t0);
        }
        assert_eq!(failures.check(a, t0), Ok(()));
    }
}
