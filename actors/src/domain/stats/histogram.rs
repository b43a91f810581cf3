//! A fixed, log-spaced histogram of delivery times (SENT to DELIVERED) whose rows merge exactly.
//!
//! Every statistics row keeps one: bucket counts only ever add, so rows written by different
//! batches, hours or instances merge into the very histogram one pass over all deliveries would
//! give, and a p95 over any range comes from the stored rows without rereading the logs.
//!
//! Resolution: bucket `i` holds times `t` with `bound(i-1) < t <= bound(i)`, where
//! `bound(i) = 100 ms * 2^(i/2)` rounded down to a millisecond, for `i` in `0..48` (100 ms up to
//! about 11 days); the last bucket holds everything longer. A quantile is reported as its
//! bucket's upper bound, so it is never below the true value and at most √2 (41 %) above it,
//! (for the open last bucket: its lower bound, the longest time the buckets can tell apart).

/// Finite buckets; one more holds everything beyond the last bound.
pub const FINITE_BUCKETS: usize = 48;
/// Every bucket, the open-ended one included.
pub const BUCKETS: usize = FINITE_BUCKETS + 1;

/// The first upper bound, in milliseconds.
const FIRST_BOUND_MS: f64 = 100.0;

/// The upper bound of bucket `i` in milliseconds; `None` for the open-ended last bucket.
pub fn bound_ms(i: usize) -> Option<i64> {
    (i < FINITE_BUCKETS).then(|| (FIRST_BOUND_MS * 2f64.powf(i as f64 / 2.0)).floor() as i64)
}

/// The bucket a delivery time falls in.
pub fn bucket_of(ms: i64) -> usize {
    (0..FINITE_BUCKETS)
        .find(|&i| bound_ms(i).is_some_and(|b| ms <= b))
        .unwrap_or(FINITE_BUCKETS)
}

/// Counts per bucket. Trailing empty buckets are not kept, so two histograms with the same
/// counts compare equal however they were built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryHistogram {
    counts: Vec<i64>,
}

impl DeliveryHistogram {
    /// One delivery that took `ms` milliseconds.
    pub fn single(ms: i64) -> Self {
        let mut h = Self::default();
        h.add(bucket_of(ms.max(0)), 1);
        h
    }

    /// Counts as stored, bucket 0 first; `None` when there are more than `BUCKETS` of them or a
    /// count is negative (the stored value is not one of ours).
    pub fn from_counts(counts: Vec<i64>) -> Option<Self> {
        if counts.len() > BUCKETS || counts.iter().any(|&c| c < 0) {
            return None;
        }
        let mut h = Self { counts };
        h.trim();
        Some(h)
    }

    pub fn counts(&self) -> &[i64] {
        &self.counts
    }

    /// Buckets with a count, as (index, count).
    pub fn nonzero(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(i, &c)| (i, c))
    }

    pub fn add(&mut self, bucket: usize, count: i64) {
        let bucket = bucket.min(FINITE_BUCKETS);
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += count;
        self.trim();
    }

    pub fn merge(&mut self, other: &DeliveryHistogram) {
        for (i, c) in other.nonzero() {
            self.add(i, c);
        }
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The smallest bucket bound at or below which at least `q` of the deliveries fall (the
    /// nearest-rank quantile, reported at bucket resolution); `None` when there are none.
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        let total = self.total();
        if total <= 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(
                    bound_ms(i).unwrap_or_else(|| bound_ms(FINITE_BUCKETS - 1).unwrap_or(i64::MAX)),
                );
            }
        }
        None
    }

    fn trim(&mut self) {
        while self.counts.last() == Some(&0) {
            self.counts.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grow_by_root_two_from_a_tenth_of_a_second() {
        assert_eq!(bound_ms(0), Some(100));
        assert_eq!(bound_ms(1), Some(141));
        assert_eq!(bound_ms(2), Some(200));
        assert_eq!(bound_ms(20), Some(102_400));
        assert_eq!(bound_ms(FINITE_BUCKETS), None);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(100), 0);
        assert_eq!(bucket_of(101), 1);
        assert_eq!(bucket_of(i64::MAX), FINITE_BUCKETS);
    }

    #[test]
    fn p95_is_the_bucket_bound_of_the_95th_percent_delivery() {
        let mut h = DeliveryHistogram::default();
        for _ in 0..95 {
            h.merge(&DeliveryHistogram::single(150));
        }
        for _ in 0..5 {
            h.merge(&DeliveryHistogram::single(60_000));
        }
        assert_eq!(h.quantile_ms(0.95), Some(200));
        assert_eq!(
            h.quantile_ms(0.96),
            Some(bound_ms(bucket_of(60_000)).unwrap_or(0))
        );
        assert_eq!(DeliveryHistogram::default().quantile_ms(0.95), None);
    }

    #[test]
    fn merging_in_any_order_gives_the_same_histogram() {
        let times = [5, 90, 101, 2_000, 2_000, 7_000_000, 99_999_999_999];
        let mut forward = DeliveryHistogram::default();
        for t in times {
            forward.merge(&DeliveryHistogram::single(t));
        }
        let mut backward = DeliveryHistogram::default();
        for t in times.iter().rev() {
            backward.merge(&DeliveryHistogram::single(*t));
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.total(), times.len() as i64);
        assert_eq!(
            DeliveryHistogram::from_counts(forward.counts().to_vec()),
            Some(forward)
        );
        assert_eq!(
            DeliveryHistogram::from_counts(vec![0, 0]),
            Some(DeliveryHistogram::default())
        );
        assert_eq!(DeliveryHistogram::from_counts(vec![-1]), None);
        assert_eq!(DeliveryHistogram::from_counts(vec![0; BUCKETS + 1]), None);
    }
}
