//! Per-source failure limiter: after `limit` failed attempts from one source within a window,
//! further uncached attempts from it are refused without running bcrypt.
//!
//! Sources are IPv4 addresses and IPv6 /64 prefixes (one host usually owns a whole /64, so
//! per-address counting would be trivial to dodge). IPv4-mapped IPv6 counts as IPv4. The map
//! is a bounded moka cache whose entries live for one window from the first failure.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// Failures of one source in the current window.
struct Window {
    started: Instant,
    failures: AtomicU32,
}

/// See the module documentation.
pub(crate) struct FailureLimiter {
    limit: u32,
    window: Duration,
    /// `None` when disabled (`limit == 0`).
    sources: Option<Cache<IpAddr, Arc<Window>>>,
}

impl FailureLimiter {
    /// A limiter allowing `limit` failures per `window` per source, tracking at most
    /// `capacity` sources. `limit == 0` disables it.
    pub(crate) fn new(limit: u32, window: Duration, capacity: u64) -> Self {
        let sources = (limit > 0 && !window.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build()
        });
        Self {
            limit,
            window,
            sources,
        }
    }

    /// If `peer` is over its limit, how long until its window ends.
    pub(crate) fn limited(&self, peer: IpAddr) -> Option<Duration> {
        let window = self.sources.as_ref()?.get(&source_of(peer))?;
        if window.failures.load(Ordering::Relaxed) < self.limit {
            return None;
        }
        let remaining = self.window.saturating_sub(window.started.elapsed());
        Some(remaining.max(Duration::from_secs(1)))
    }

    /// Counts one failed attempt from `peer`.
    pub(crate) fn record_failure(&self, peer: IpAddr) {
        let Some(sources) = &self.sources else {
            return;
        };
        let window = sources.get_with(source_of(peer), || {
            Arc::new(Window {
                started: Instant::now(),
                failures: AtomicU32::new(0),
            })
        });
        // Saturating: a counter stuck at the top is still "over the limit".
        let _ = window
            .failures
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
    }
}

/// The unit a failure is charged to: the IPv4 address, or the IPv6 /64.
pub(crate) fn source_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_n_failures_per_source() {
        let l = FailureLimiter::new(3, Duration::from_secs(60), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.limited(a), None);
            l.record_failure(a);
        }
        let wait = l.limited(a).expect("limited after 3 failures");
        assert!(wait <= Duration::from_secs(60));
        assert_eq!(l.limited(b), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = FailureLimiter::new(2, Duration::from_secs(60), 100);
        l.record_failure("2001:db8::1".parse().unwrap());
        l.record_failure("2001:db8::ffff:2".parse().unwrap());
        assert!(l.limited("2001:db8::3".parse().unwrap()).is_some());
        assert!(l.limited("2001:db8:0:1::3".parse().unwrap()).is_none());

        l.record_failure("::ffff:192.0.2.9".parse().unwrap());
        l.record_failure("192.0.2.9".parse().unwrap());
        assert!(l.limited("192.0.2.9".parse().unwrap()).is_some());
    }

    #[test]
    fn zero_limit_disables() {
        let l = FailureLimiter::new(0, Duration::from_secs(60), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            l.record_failure(a);
        }
        assert_eq!(l.limited(a), None);
    }

    #[test]
    fn window_expires() {
        let l = FailureLimiter::new(1, Duration::from_millis(100), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        l.record_failure(a);
        assert!(l.limited(a).is_some());
        // Deadline-bounded poll: the entry's TTL ends the window.
        let deadline = Instant::now() + Duration::from_secs(10);
        while l.limited(a).is_some() {
            assert!(Instant::now() < deadline, "window never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
