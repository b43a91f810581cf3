//! The circuit breaker of one provider: closed → open on a run of failures or a high failure rate
//! in a window; after a cool-down, half-open with exactly one probe; the probe decides.

use crate::domain::ProviderSettings;
use std::{collections::VecDeque, time::Duration};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    Closed,
    HalfOpen,
    Open,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::HalfOpen => "HALF_OPEN",
            Self::Open => "OPEN",
        }
    }

    pub fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    state: CircuitState,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    consecutive_failures: u32,
    /// The outcomes of the latest calls, `true` for a failure.
    window: VecDeque<bool>,
    max_consecutive: u32,
    max_failure_rate: f64,
    window_size: usize,
    cooldown: Duration,
}

impl CircuitBreaker {
    pub fn new(settings: &ProviderSettings) -> Self {
        Self {
            state: CircuitState::Closed,
            opened_at: None,
            probe_in_flight: false,
            consecutive_failures: 0,
            window: VecDeque::with_capacity(settings.breaker_window),
            max_consecutive: settings.breaker_consecutive_failures.max(1),
            max_failure_rate: settings.breaker_failure_rate,
            window_size: settings.breaker_window,
            cooldown: settings.breaker_cooldown(),
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Moves an open circuit to half-open once its cool-down has passed. Returns the new state
    /// when it changed.
    pub fn poll(&mut self, now: Instant) -> Option<CircuitState> {
        match (self.state, self.opened_at) {
            (CircuitState::Open, Some(at)) if now.duration_since(at) >= self.cooldown => {
                self.state = CircuitState::HalfOpen;
                self.probe_in_flight = false;
                Some(CircuitState::HalfOpen)
            }
            _ => None,
        }
    }

    /// Whether a call may start now; a half-open circuit lets exactly one probe through.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        self.poll(now);
        match self.state {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen if self.probe_in_flight => false,
            CircuitState::HalfOpen => {
                self.probe_in_flight = true;
                true
            }
        }
    }

    /// Records a finished call. Returns the new state when it changed.
    pub fn record(&mut self, failed: bool, now: Instant) -> Option<CircuitState> {
        if self.window.len() == self.window_size {
            self.window.pop_front();
        }
        self.window.push_back(failed);
        self.consecutive_failures = if failed {
            self.consecutive_failures + 1
        } else {
            0
        };
        let next = match self.state {
            CircuitState::HalfOpen if failed => CircuitState::Open,
            CircuitState::HalfOpen => {
                self.window.clear();
                CircuitState::Closed
            }
            CircuitState::Closed if failed && self.should_open() => CircuitState::Open,
            state => state,
        };
        self.probe_in_flight = false;
        if next == self.state {
            return None;
        }
        if next == CircuitState::Open {
            self.opened_at = Some(now);
        }
        self.state = next;
        Some(next)
    }

    fn should_open(&self) -> bool {
        if self.consecutive_failures >= self.max_consecutive {
            return true;
        }
        // A rate over a handful of calls is noise: judge only a full window.
        if self.window.len() < self.window_size {
            return false;
        }
        let failures = self.window.iter().filter(|f| **f).count();
        failures as f64 / self.window.len() as f64 >= self.max_failure_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(&ProviderSettings {
            breaker_consecutive_failures: 3,
            breaker_failure_rate: 0.5,
            breaker_window: 10,
            breaker_cooldown_ms: 1_000,
            ..ProviderSettings::default()
        })
    }

    #[test]
    fn a_run_of_failures_opens_the_circuit() {
        let now = Instant::now();
        let mut b = breaker();
        assert_eq!(b.record(true, now), None);
        assert_eq!(b.record(true, now), None);
        assert_eq!(b.record(true, now), Some(CircuitState::Open));
        assert!(!b.try_acquire(now));
    }

    #[test]
    fn a_success_resets_the_run() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..2 {
            b.record(true, now);
        }
        b.record(false, now);
        for _ in 0..2 {
            assert_eq!(b.record(true, now), None);
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn a_high_failure_rate_over_a_full_window_opens_the_circuit() {
        let now = Instant::now();
        let mut b = breaker();
        // Alternating never makes a run of 3, but half of the window fails.
        let mut opened = None;
        for i in 0..10 {
            opened = opened.or(b.record(i % 2 == 1, now));
        }
        assert_eq!(opened, Some(CircuitState::Open));
    }

    #[test]
    fn after_the_cooldown_exactly_one_probe_goes_through() {
        let start = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(true, start);
        }
        assert!(!b.try_acquire(start + Duration::from_millis(999)));
        let later = start + Duration::from_millis(1_000);
        assert!(b.try_acquire(later));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(
            !b.try_acquire(later),
            "a second probe must wait for the first"
        );
    }

    #[test]
    fn a_good_probe_closes_and_a_bad_probe_reopens() {
        let start = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(true, start);
        }
        let later = start + Duration::from_secs(1);
        assert!(b.try_acquire(later));
        assert_eq!(b.record(false, later), Some(CircuitState::Closed));

        for _ in 0..3 {
            b.record(true, later);
        }
        let again = later + Duration::from_secs(1);
        assert!(b.try_acquire(again));
        assert_eq!(b.record(true, again), Some(CircuitState::Open));
        assert!(!b.try_acquire(again + Duration::from_millis(500)));
    }
}
