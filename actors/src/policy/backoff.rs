//! Retry delays: exponential with full jitter, so retries after a provider outage spread out
//! instead of arriving together.

use rand::Rng;
use std::time::Duration;

/// The delay before attempt `attempt + 1`, given that `attempt` attempts (≥ 1) have failed:
/// a uniform draw in `[0, min(max, base × 2^(attempt-1))]`. A provider's Retry-After is a floor.
pub fn retry_delay(
    attempt: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << exp).min(max);
    let jittered = Duration::from_millis(rng.gen_range(0..=ceiling.as_millis() as u64));
    match retry_after {
        Some(floor) => jittered.max(floor),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn delays_stay_under_the_growing_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..12 {
            let ceiling = (base * 2u32.pow(attempt - 1)).min(max);
            for _ in 0..200 {
                assert!(retry_delay(attempt, base, max, None, &mut rng) <= ceiling);
            }
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::HashSet<_> = (0..50)
            .map(|_| {
                retry_delay(
                    4,
                    Duration::from_millis(100),
                    Duration::from_secs(60),
                    None,
                    &mut rng,
                )
            })
            .collect();
        assert!(delays.len() > 20, "only {} distinct delays", delays.len());
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut rng = StdRng::seed_from_u64(3);
        let d = retry_delay(
            1,
            Duration::from_millis(10),
            Duration::from_secs(1),
            Some(Duration::from_secs(7)),
            &mut rng,
        );
        assert_eq!(d, Duration::from_secs(7));
    }
}
