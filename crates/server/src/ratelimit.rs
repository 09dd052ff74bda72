//! The global `rate_limit` token bucket with Go's `x/time/rate` semantics (spec §4.6).
//!
//! Implemented as GCRA (generic cell rate algorithm) over one atomic "theoretical arrival
//! time": a single compare-and-swap per request, no lock. GCRA with capacity `burst` and one
//! token per `interval` is exactly a token bucket that starts full.
//!
//! The bucket is global: one per gateway, shared by every listener, client, user and path
//! (Go has one per listener; see spec §4.7).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use scrapegate_model::RateLimit;

/// What a configured `rate_limit` turns into.
#[derive(Debug)]
pub struct RateLimiter {
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// `interval: 0` (off) or a negative interval (unlimited): every request passes.
    Open,
    /// `burst <= 0` with a positive interval: every request is rejected.
    Closed,
    /// A real bucket.
    Bucket(Gcra),
}

#[derive(Debug)]
struct Gcra {
    origin: Instant,
    /// Nanoseconds per token.
    interval: u64,
    /// `burst * interval`, saturated: how far the arrival time may run ahead of now.
    tolerance: u64,
    /// Theoretical arrival time, in nanoseconds since `origin`. Starts at 0: the bucket is full.
    tat: AtomicU64,
}

impl RateLimiter {
    /// Builds the limiter for a `rate_limit` section.
    pub fn new(limit: RateLimit) -> Self {
        let mode = match limit.interval_nanos {
            i if i <= 0 => Mode::Open,
            _ if limit.burst <= 0 => Mode::Closed,
            i => {
                let interval = i as u64;
                let burst = limit.burst as u64;
                Mode::Bucket(Gcra {
                    origin: Instant::now(),
                    interval,
                    tolerance: interval.saturating_mul(burst),
                    tat: AtomicU64::new(0),
                })
            }
        };
        Self { mode }
    }

    /// True when this limiter can ever refuse a request.
    #[cfg(test)]
    pub fn is_active(&self) -> bool {
        !matches!(self.mode, Mode::Open)
    }

    /// Takes one token if there is one. `false` means answer 429.
    pub fn allow(&self) -> bool {
        match &self.mode {
            Mode::Open => true,
            Mode::Closed => false,
            Mode::Bucket(g) => g.allow(),
        }
    }
}

impl Gcra {
    fn allow(&self) -> bool {
        // Offset by the tolerance so that "now" never underflows the starting (full) state.
        let now = u64::try_from(self.origin.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(self.tolerance);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let new_tat = tat.max(now).saturating_add(self.interval);
            if new_tat - now > self.tolerance {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(interval_nanos: i64, burst: i64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            interval_nanos,
            burst,
        })
    }

    #[test]
    fn interval_zero_is_off() {
        let l = limiter(0, 0);
        assert!(!l.is_active());
        assert!((0..11).all(|_| l.allow()));
    }

    #[test]
    fn negative_interval_is_unlimited_whatever_the_burst() {
        let l = limiter(-1_000_000_000, 0);
        assert!((0..100).all(|_| l.allow()));
    }

    #[test]
    fn burst_zero_rejects_the_first_request() {
        let l = limiter(1_000_000_000, 0);
        assert!(!l.allow());
    }

    #[test]
    fn bucket_starts_full_then_refuses() {
        // One hour per token: the refill cannot happen during the test.
        let l = limiter(3_600_000_000_000, 3);
        assert!(l.allow() && l.allow() && l.allow());
        assert!(!l.allow());
    }

    #[test]
    fn bucket_refills_one_token_per_interval() {
        let l = limiter(1_000_000, 1); // 1 ms
        assert!(l.allow());
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        // Poll (bounded) until the token has come back.
        while !l.allow() {
            assert!(Instant::now() < deadline, "token never refilled");
            std::thread::yield_now();
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        let l = limiter(i64::MAX, i64::MAX);
        assert!(l.allow());
    }
}
