//! Counters and a duration histogram for the authenticator, as plain atomics.
//!
//! The server crate exports them in Prometheus format; this crate only counts. All updates are
//! `Relaxed`: each value is independent and read only for reporting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the bcrypt duration histogram buckets; `+Inf` is implied.
pub const BCRYPT_DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Outcome counters, the bcrypt queue gauge and the bcrypt duration histogram.
#[derive(Debug, Default)]
pub struct AuthMetrics {
    allowed: AtomicU64,
    denied: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    failure_hits: AtomicU64,
    coalesced: AtomicU64,
    busy: AtomicU64,
    limited: AtomicU64,
    bcrypt_runs: AtomicU64,
    queue_depth: AtomicU64,
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; BCRYPT_DURATION_BUCKETS.len() + 1],
    duration_sum_nanos: AtomicU64,
}

/// A snapshot of the bcrypt duration histogram in Prometheus shape.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    /// `(upper bound in seconds, cumulative count)` for each of [`BCRYPT_DURATION_BUCKETS`].
    pub buckets: Vec<(f64, u64)>,
    /// Total number of observations (the `+Inf` bucket).
    pub count: u64,
    /// Sum of all observations in seconds.
    pub sum_seconds: f64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $( $(#[$doc])* pub fn $name(&self) -> u64 { self.$name.load(Ordering::Relaxed) } )*
    };
}

impl AuthMetrics {
    getters! {
        /// Checks answered `Allow` (cache hits and verified misses; not the no-users case).
        allowed,
        /// Checks answered `Deny` (missing or malformed header, wrong or unknown credentials).
        denied,
        /// Credentials answered from the success tier without bcrypt.
        cache_hits,
        /// Credentials found in neither tier: each then started, joined or was refused a
        /// bcrypt, or found the verdict of one that finished a moment before.
        cache_misses,
        /// Credentials answered `Deny` from the failure tier without bcrypt.
        failure_hits,
        /// Misses that joined a bcrypt already running or queued for the same key.
        coalesced,
        /// Misses refused with `Busy` because the bcrypt queue was full.
        busy,
        /// Checks refused with `Limited` by the per-source failure limiter.
        limited,
        /// bcrypt computations actually run.
        bcrypt_runs,
        /// bcrypt jobs waiting for a pool thread right now (a gauge).
        queue_depth,
    }

    /// Snapshot of the bcrypt duration histogram.
    pub fn bcrypt_duration(&self) -> DurationHistogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(BCRYPT_DURATION_BUCKETS.len());
        for (bound, slot) in BCRYPT_DURATION_BUCKETS.iter().zip(&self.buckets) {
            cumulative += slot.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count =
            cumulative + self.buckets[BCRYPT_DURATION_BUCKETS.len()].load(Ordering::Relaxed);
        let sum_seconds = self.duration_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        DurationHistogram {
            buckets,
            count,
            sum_seconds,
        }
    }

    /// Mean bcrypt duration so far, if any ran.
    pub(crate) fn mean_bcrypt_duration(&self) -> Option<Duration> {
        let runs = self.bcrypt_runs();
        (runs > 0)
            .then(|| Duration::from_nanos(self.duration_sum_nanos.load(Ordering::Relaxed) / runs))
    }

    pub(crate) fn observe_bcrypt(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BCRYPT_DURATION_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(BCRYPT_DURATION_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.duration_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queue_push(&self) {
        self.queue_depth.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queue_pop(&self) {
        self.queue_depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Named increments, so call sites read as what happened.
impl AuthMetrics {
    pub(crate) fn count_allowed(&self) {
        Self::inc(&self.allowed);
    }
    pub(crate) fn count_denied(&self) {
        Self::inc(&self.denied);
    }
    pub(crate) fn count_hit(&self) {
        Self::inc(&self.cache_hits);
    }
    pub(crate) fn count_miss(&self) {
        Self::inc(&self.cache_misses);
    }
    pub(crate) fn count_failure_hit(&self) {
        Self::inc(&self.failure_hits);
    }
    pub(crate) fn count_coalesced(&self) {
        Self::inc(&self.coalesced);
    }
    pub(crate) fn count_busy(&self) {
        Self::inc(&self.busy);
    }
    pub(crate) fn count_limited(&self) {
        Self::inc(&self.limited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = AuthMetrics::default();
        m.observe_bcrypt(Duration::from_micros(500));
        m.observe_bcrypt(Duration::from_millis(60));
        m.observe_bcrypt(Duration::from_secs(20));
        let h = m.bcrypt_duration();
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], (0.001, 1));
        assert_eq!(h.buckets.last().unwrap().1, 2);
        assert!((h.sum_seconds - 20.0605).abs() < 1e-9);
        assert_eq!(m.bcrypt_runs(), 3);
    }
}
