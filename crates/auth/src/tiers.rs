//! The two-tier verification cache: successes and failures in separate bounded moka caches,
//! so a flood of wrong passwords can never evict a good credential.

use std::time::Duration;

use moka::sync::Cache;

use crate::key::{CacheKey, KeyHashBuilder};

/// moka panics on expirations over 1000 years; nobody needs more than one.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The result of one bcrypt verification: the user exists and the hash matched, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Known user, matching password.
    Match,
    /// Wrong password, or unknown user (whatever the decoy said).
    Mismatch,
}

/// Success and failure tiers; values are empty, presence is the verdict.
pub(crate) struct Tiers {
    success: Cache<CacheKey, (), KeyHashBuilder>,
    failure: Cache<CacheKey, (), KeyHashBuilder>,
}

impl Tiers {
    pub(crate) fn new(
        success_capacity: u64,
        success_ttl: Duration,
        failure_capacity: u64,
        failure_ttl: Duration,
    ) -> Self {
        let tier = |capacity, ttl: Duration| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.clamp(Duration::from_millis(1), MAX_TTL))
                .build_with_hasher(KeyHashBuilder)
        };
        Self {
            success: tier(success_capacity, success_ttl),
            failure: tier(failure_capacity, failure_ttl),
        }
    }

    /// Whether `key` is a cached success.
    pub(crate) fn is_success(&self, key: &CacheKey) -> bool {
        self.success.get(key).is_some()
    }

    /// Whether `key` is a cached failure.
    pub(crate) fn is_failure(&self, key: &CacheKey) -> bool {
        self.failure.get(key).is_some()
    }

    /// The cached verdict for `key`, if any.
    pub(crate) fn lookup(&self, key: &CacheKey) -> Option<Verdict> {
        if self.is_success(key) {
            Some(Verdict::Match)
        } else if self.is_failure(key) {
            Some(Verdict::Mismatch)
        } else {
            None
        }
    }

    /// Records a verdict in its tier.
    pub(crate) fn store(&self, key: CacheKey, verdict: Verdict) {
        match verdict {
            Verdict::Match => self.success.insert(key, ()),
            Verdict::Mismatch => self.failure.insert(key, ()),
        }
    }

    /// Approximate entry counts `(successes, failures)`.
    pub(crate) fn entry_counts(&self) -> (u64, u64) {
        self.success.run_pending_tasks();
        self.failure.run_pending_tasks();
        (self.success.entry_count(), self.failure.entry_count())
    }
}
