//! Per-connection timers that hyper does not separate: "slow request headers" versus "idle
//! between requests".
//!
//! hyper's HTTP/1 `header_read_timeout` also runs while a kept-alive connection waits for the
//! next request, so any value short enough to stop slowloris clients would also cut the idle
//! connections Prometheus keeps between scrapes. We turn it off and track both ourselves:
//!
//! * the **header deadline** starts when the connection opens, and (HTTP/1 only) when the
//!   first bytes of a new request arrive while no request is in flight; it ends when the
//!   request reaches the service;
//! * the **idle deadline** starts when the last in-flight request's response is finished.
//!
//! The IO wrapper and the service only store timestamps in atomics; the connection task
//! sleeps until the nearest deadline and checks them then.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Milliseconds since a process-wide origin; 0 is reserved for "unset".
fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// What the connection task should do when it wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing expired; sleep this long and look again.
    Wait(Duration),
    /// A request's headers took too long: close the connection.
    HeaderTimeout,
    /// No request for the idle period: close the connection gracefully.
    Idle,
}

/// The timestamps of one connection.
#[derive(Debug)]
pub struct ConnClock {
    inflight: AtomicU32,
    /// When the connection last became idle (no request in flight).
    idle_since: AtomicU64,
    /// When the current request started arriving; 0 when none is.
    header_since: AtomicU64,
    /// Whether new bytes while idle arm the header deadline (HTTP/1 only: on HTTP/2 the
    /// client's PING acknowledgements would arm it without a request ever following).
    arm_on_read: bool,
}

impl ConnClock {
    /// A clock for a connection that opened just now: the first request is due within the
    /// header timeout.
    pub fn new(arm_on_read: bool) -> Arc<Self> {
        let now = now_ms();
        Arc::new(Self {
            inflight: AtomicU32::new(0),
            idle_since: AtomicU64::new(now),
            header_since: AtomicU64::new(now),
            arm_on_read,
        })
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.arm_on_read
            && self.inflight.load(Ordering::Acquire) == 0
            && self.header_since.load(Ordering::Relaxed) == 0
        {
            self.header_since.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// A request reached the service; the returned guard marks its end when dropped (when the
    /// response body has been sent or abandoned).
    pub fn request_started(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.header_since.store(0, Ordering::Relaxed);
        InflightGuard {
            clock: Arc::clone(self),
        }
    }

    /// Decides whether a deadline has passed.
    pub fn check(&self, header_timeout: Duration, idle_timeout: Duration) -> Verdict {
        let now = now_ms();
        let header_ms = header_timeout.as_millis() as u64;
        let idle_ms = idle_timeout.as_millis() as u64;
        let mut wait = idle_ms.max(1);
        let header_since = self.header_since.load(Ordering::Relaxed);
        if header_since != 0 {
            let due = header_since.saturating_add(header_ms);
            if now >= due {
                return Verdict::HeaderTimeout;
            }
            wait = wait.min(due - now);
        }
        if self.inflight.load(Ordering::Acquire) == 0 {
            let due = self
                .idle_since
                .load(Ordering::Relaxed)
                .saturating_add(idle_ms);
            if now >= due {
                return Verdict::Idle;
            }
            wait = wait.min(due - now);
        }
        Verdict::Wait(Duration::from_millis(wait))
    }
}

/// Marks the end of one request when dropped.
#[derive(Debug)]
pub struct InflightGuard {
    clock: Arc<ConnClock>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        // Store the idle start before the count reaches 0, so a concurrent check never sees
        // "idle" with a stale timestamp.
        self.clock.idle_since.store(now_ms(), Ordering::Relaxed);
        self.clock.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// An IO stream that reports reads to a [`ConnClock`].
    pub struct ClockedIo<T> {
        #[pin]
        inner: T,
        clock: Arc<ConnClock>,
    }
}

impl<T> ClockedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, clock: Arc<ConnClock>) -> Self {
        Self { inner, clock }
    }
}

impl<T: AsyncRead> AsyncRead for ClockedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let r = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.clock.on_read();
        }
        r
    }
}

impl<T: AsyncWrite> AsyncWrite for ClockedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(10);
    const I: Duration = Duration::from_secs(300);

    #[test]
    fn a_fresh_connection_waits_for_its_first_request_within_the_header_timeout() {
        let c = ConnClock::new(true);
        match c.check(H, I) {
            Verdict::Wait(d) => assert!(d <= H),
            v => panic!("{v:?}"),
        }
        assert_eq!(c.check(Duration::ZERO, I), Verdict::HeaderTimeout);
    }

    #[test]
    fn in_flight_requests_stop_both_deadlines() {
        let c = ConnClock::new(true);
        let g = c.request_started();
        assert!(matches!(
            c.check(Duration::ZERO, Duration::ZERO),
            Verdict::Wait(_)
        ));
        drop(g);
        assert_eq!(c.check(H, Duration::ZERO), Verdict::Idle);
    }

    #[test]
    fn reads_while_idle_arm_the_header_deadline_on_http1_only() {
        let h1 = ConnClock::new(true);
        drop(h1.request_started());
        h1.on_read();
        assert_eq!(h1.check(Duration::ZERO, I), Verdict::HeaderTimeout);
        let h2 = ConnClock::new(false);
        drop(h2.request_started());
        h2.on_read();
        assert!(matches!(h2.check(Duration::ZERO, I), Verdict::Wait(_)));
    }
}
