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
//!
//! The clock also tells an HTTP/1 connection when to **park**: once it has been idle for a
//! while with its last response flushed, the connection task drops hyper's per-connection
//! state (two 8 KiB buffers and the connection itself) and waits on the bare stream; the
//! next request's first bytes are read ahead by [`ClockedIo::read_ahead`] and replayed to a
//! new hyper connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
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
    /// Idle for the park delay with everything flushed: drop the HTTP/1 state, keep the stream.
    Park,
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
    /// Bytes were written since the last successful flush: the connection may still hold
    /// response bytes, so it must not park.
    unflushed: AtomicBool,
    /// A request on this connection passed authentication: it earns the full idle timeout
    /// (until then, the short one for unauthenticated connections applies).
    authenticated: AtomicBool,
    /// Bytes the stream has taken from hyper (HTTP/1: heads, bodies and their framing).
    written: AtomicU64,
    /// A response body waiting for the stream to take bytes (see [`WriteWindow`]); the flag
    /// keeps the lock off the write path when none is.
    write_waiter: Mutex<Option<Waker>>,
    write_waiting: AtomicBool,
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
            unflushed: AtomicBool::new(false),
            authenticated: AtomicBool::new(false),
            written: AtomicU64::new(0),
            write_waiter: Mutex::new(None),
            write_waiting: AtomicBool::new(false),
        })
    }

    /// The stream took `n` bytes: a body waiting for room may go on.
    fn wrote(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        if self.write_waiting.swap(false, Ordering::AcqRel) {
            let waker = self
                .write_waiter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// A request on this connection passed authentication (or needed none).
    pub fn mark_authenticated(&self) {
        self.authenticated.store(true, Ordering::Relaxed);
    }

    /// The idle timeout this connection has earned: `idle` once a request passed
    /// authentication, `unauthenticated` (if shorter) before.
    pub fn idle_timeout(&self, idle: Duration, unauthenticated: Duration) -> Duration {
        if self.authenticated.load(Ordering::Relaxed) {
            idle
        } else {
            idle.min(unauthenticated)
        }
    }

    /// Bytes arrived from the client (also called for bytes a parked connection hands back
    /// to a new hyper connection, so an unfinished request is held to the header deadline).
    pub fn on_read(&self) {
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

    /// Decides whether a deadline has passed. With `park_after`, an idle connection whose
    /// last response is flushed and on which no new request has started is told to park once
    /// it has been idle that long; until then the wait never exceeds `park_after`, so a
    /// connection that just finished a request is looked at again in time.
    pub fn check(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
        park_after: Option<Duration>,
    ) -> Verdict {
        let now = now_ms();
        let header_ms = header_timeout.as_millis() as u64;
        let idle_ms = idle_timeout.as_millis() as u64;
        let park_ms = park_after.map(|p| p.as_millis() as u64);
        let mut wait = idle_ms.max(1).min(park_ms.map_or(u64::MAX, |p| p.max(1)));
        let header_since = self.header_since.load(Ordering::Relaxed);
        if header_since != 0 {
            let due = header_since.saturating_add(header_ms);
            if now >= due {
                return Verdict::HeaderTimeout;
            }
            wait = wait.min(due - now);
        }
        if self.inflight.load(Ordering::Acquire) == 0 {
            let idle_since = self.idle_since.load(Ordering::Relaxed);
            let due = idle_since.saturating_add(idle_ms);
            if now >= due {
                return Verdict::Idle;
            }
            wait = wait.min(due - now);
            if let Some(park_ms) = park_ms {
                if header_since == 0 && !self.unflushed.load(Ordering::Relaxed) {
                    let due = idle_since.saturating_add(park_ms);
                    if now >= due {
                        return Verdict::Park;
                    }
                    wait = wait.min(due - now);
                }
            }
        }
        Verdict::Wait(Duration::from_millis(wait))
    }
}

/// Marks the end of one request when dropped.
#[derive(Debug)]
pub struct InflightGuard {
    clock: Arc<ConnClock>,
}

impl InflightGuard {
    /// A write window over this connection for an HTTP/1 response body (see [`WriteWindow`]).
    pub fn write_window(&self, limit: u64) -> WriteWindow {
        WriteWindow {
            clock: Arc::clone(&self.clock),
            base: self.clock.written.load(Ordering::Relaxed),
            yielded: 0,
            limit,
        }
    }
}

/// Bounds what an HTTP/1 response body hands hyper beyond what the stream has taken.
///
/// hyper queues response chunks toward the client while less than its `max_buf_size`
/// (`--web.max-header-bytes` + 16 KiB: the same bound serves the request-head read buffer)
/// is waiting, and fills that queue before each flush. A client that stops reading would make
/// every connection hold the whole queue. With the window, the body is not polled once
/// `limit` bytes it yielded have not been taken by the stream yet: it is woken when the stream
/// takes bytes again. The stream's count includes the response head and chunk framing,
/// which makes the estimate of what hyper holds low by those few bytes, never high, so a
/// waiting body always has bytes in hyper's queue whose write wakes it.
#[derive(Debug)]
pub struct WriteWindow {
    clock: Arc<ConnClock>,
    /// The stream's count when the body started.
    base: u64,
    /// Data bytes the body has yielded.
    yielded: u64,
    limit: u64,
}

impl WriteWindow {
    /// Ready when the body may yield another frame; otherwise registers `cx` to be woken when
    /// the stream takes bytes.
    pub fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_room() {
            return Poll::Ready(());
        }
        let clock = &self.clock;
        *clock
            .write_waiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cx.waker().clone());
        clock.write_waiting.store(true, Ordering::Release);
        // The stream may have taken bytes since the check above.
        if self.has_room() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn has_room(&self) -> bool {
        let taken = self
            .clock
            .written
            .load(Ordering::Relaxed)
            .wrapping_sub(self.base);
        self.yielded.saturating_sub(taken) < self.limit
    }

    /// The body yielded `n` data bytes.
    pub fn yielded(&mut self, n: usize) {
        self.yielded += n as u64;
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        // Store the idle start before the count reaches 0, so a concurrent check never sees
        // "idle" with a stale timestamp.
        self.clock.idle_since.store(now_ms(), Ordering::Relaxed);
        self.clock.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most a parked connection reads ahead of hyper (a scrape's request head is a few hundred
/// bytes; hyper reads the rest of a longer one itself).
const READ_AHEAD: usize = 1024;

pin_project_lite::pin_project! {
    /// An IO stream that reports reads and flushes to a [`ConnClock`], and hands back bytes
    /// read ahead while its connection was parked before reading on.
    pub struct ClockedIo<T> {
        #[pin]
        inner: T,
        clock: Arc<ConnClock>,
        replay: Bytes,
    }
}

impl<T> ClockedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, clock: Arc<ConnClock>) -> Self {
        Self {
            inner,
            clock,
            replay: Bytes::new(),
        }
    }

    /// Queues bytes already taken from the stream to be read again first.
    pub fn replay(&mut self, bytes: Bytes) {
        debug_assert!(self.replay.is_empty());
        self.replay = bytes;
    }
}

impl<T: AsyncRead + Unpin> ClockedIo<T> {
    /// Waits for the peer's next bytes and queues them for [`replay`](Self::replay); `false`
    /// at end of stream. For a parked connection: nothing but this small read is pending.
    pub async fn read_ahead(&mut self) -> io::Result<bool> {
        std::future::poll_fn(|cx| {
            let mut buf = [0u8; READ_AHEAD];
            let mut rb = ReadBuf::new(&mut buf);
            ready!(Pin::new(&mut *self).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                return Poll::Ready(Ok(false));
            }
            self.replay = Bytes::copy_from_slice(rb.filled());
            Poll::Ready(Ok(true))
        })
        .await
    }
}

impl<T: AsyncRead> AsyncRead for ClockedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if !this.replay.is_empty() {
            // Already counted by `on_read` when it was read ahead.
            let n = this.replay.len().min(buf.remaining());
            if n == this.replay.len() {
                buf.put_slice(&std::mem::take(this.replay));
            } else {
                buf.put_slice(&this.replay[..n]);
                this.replay.advance(n);
            }
            return Poll::Ready(Ok(()));
        }
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
        let this = self.project();
        this.clock.unflushed.store(true, Ordering::Relaxed);
        let r = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.clock.wrote(n);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        this.clock.unflushed.store(true, Ordering::Relaxed);
        let r = this.inner.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            this.clock.wrote(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let r = this.inner.poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            this.clock.unflushed.store(false, Ordering::Relaxed);
        }
        r
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

    /// A waker that counts its wake-ups.
    struct Count(AtomicU32);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn write_window_waits_for_the_stream_and_is_woken_by_its_writes() {
        let clock = ConnClock::new(true);
        let guard = clock.request_started();
        // Bytes written before the body started (a previous response) do not count.
        clock.wrote(500);
        let mut window = guard.write_window(100);
        let count = Arc::new(Count(AtomicU32::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);

        assert!(window.poll_room(&mut cx).is_ready());
        window.yielded(60);
        assert!(window.poll_room(&mut cx).is_ready());
        window.yielded(60);
        // 120 yielded, none taken: hyper holds them all.
        assert!(window.poll_room(&mut cx).is_pending());
        clock.wrote(0);
        assert_eq!(count.0.load(Ordering::Relaxed), 0, "woken without progress");
        // 10 bytes taken: 110 may still be queued, so still no room.
        clock.wrote(10);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(window.poll_room(&mut cx).is_pending());
        clock.wrote(30);
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert!(window.poll_room(&mut cx).is_ready());
        // Woken once per wait, not on every write.
        clock.wrote(1000);
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_fresh_connection_waits_for_its_first_request_within_the_header_timeout() {
        let c = ConnClock::new(true);
        match c.check(H, I, None) {
            Verdict::Wait(d) => assert!(d <= H),
            v => panic!("{v:?}"),
        }
        assert_eq!(c.check(Duration::ZERO, I, None), Verdict::HeaderTimeout);
    }

    #[test]
    fn in_flight_requests_stop_both_deadlines() {
        let c = ConnClock::new(true);
        let g = c.request_started();
        assert!(matches!(
            c.check(Duration::ZERO, Duration::ZERO, None),
            Verdict::Wait(_)
        ));
        drop(g);
        assert_eq!(c.check(H, Duration::ZERO, None), Verdict::Idle);
    }

    #[test]
    fn reads_while_idle_arm_the_header_deadline_on_http1_only() {
        let h1 = ConnClock::new(true);
        drop(h1.request_started());
        h1.on_read();
        assert_eq!(h1.check(Duration::ZERO, I, None), Verdict::HeaderTimeout);
        let h2 = ConnClock::new(false);
        drop(h2.request_started());
        h2.on_read();
        assert!(matches!(
            h2.check(Duration::ZERO, I, None),
            Verdict::Wait(_)
        ));
    }

    /// An idle connection with its response flushed parks after the park delay; until then
    /// the wait is bounded by it, even while a request is in flight.
    #[test]
    fn idle_and_flushed_connections_park() {
        let c = ConnClock::new(true);
        let g = c.request_started();
        match c.check(H, I, Some(Duration::from_secs(1))) {
            Verdict::Wait(d) => assert!(d <= Duration::from_secs(1)),
            v => panic!("{v:?}"),
        }
        drop(g);
        match c.check(H, I, Some(Duration::from_secs(1))) {
            Verdict::Wait(d) => assert!(d <= Duration::from_secs(1)),
            v => panic!("{v:?}"),
        }
        assert_eq!(c.check(H, I, Some(Duration::ZERO)), Verdict::Park);
        // Without a park delay it never parks; the idle deadline still comes first.
        assert!(matches!(c.check(H, I, None), Verdict::Wait(_)));
        assert_eq!(
            c.check(H, Duration::ZERO, Some(Duration::ZERO)),
            Verdict::Idle
        );
    }

    /// No parking with a request in flight, a new one arriving, or bytes not yet flushed.
    #[test]
    fn busy_arriving_or_unflushed_connections_do_not_park() {
        let park = Some(Duration::ZERO);
        let c = ConnClock::new(true);
        let g = c.request_started();
        assert!(matches!(c.check(H, I, park), Verdict::Wait(_)));
        drop(g);
        c.unflushed.store(true, Ordering::Relaxed);
        assert!(matches!(c.check(H, I, park), Verdict::Wait(_)));
        c.unflushed.store(false, Ordering::Relaxed);
        c.on_read();
        assert!(matches!(c.check(H, I, park), Verdict::Wait(_)));
        drop(c.request_started());
        assert_eq!(c.check(H, I, park), Verdict::Park);
    }

    /// Bytes read ahead while parked are counted once, then handed back before any new read;
    /// writes mark the stream unflushed until a flush completes.
    #[tokio::test]
    async fn read_ahead_replays_and_flushes_are_tracked() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let (mut client, mut server) = (client, ClockedIo::new(server, ConnClock::new(true)));
        drop(server.clock.request_started());
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(server.read_ahead().await.unwrap());
        assert_ne!(server.clock.header_since.load(Ordering::Relaxed), 0);
        client.write_all(b"Host: a\r\n\r\n").await.unwrap();
        let mut got = vec![0u8; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"GET /");
        let mut rest = vec![0u8; 22];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, b" HTTP/1.1\r\nHost: a\r\n\r\n");
        server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        assert!(server.clock.unflushed.load(Ordering::Relaxed));
        server.flush().await.unwrap();
        assert!(!server.clock.unflushed.load(Ordering::Relaxed));
        drop(client);
        assert!(!server.read_ahead().await.unwrap());
    }
}
