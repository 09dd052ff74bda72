//! Accepting and serving connections: the accept loop (which never awaits a handshake), the
//! connection limit, the per-connection task with its TLS handshake, protocol choice by ALPN,
//! the idle / slow-header / shutdown handling around hyper, and the parking of idle HTTP/1
//! connections (hyper's state dropped while the stream waits for the next request).
//!
//! Memory per idle connection matters (a gateway in front of a large fleet holds thousands,
//! `loadtest/memory/idle-connections`), hence the boxes below and the parking.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::Front;
use super::clock::{ClockedIo, ConnClock, Verdict};
use super::coalesce::Coalesce;
use super::request::{self, ConnCtx};
use super::streams::{LocalStreams, WithStreams};
use crate::apps::App;
use crate::options::http2_builder;
use crate::telemetry::Metrics;
use crate::upstream::Origin;

/// Counts open connections across every listener (so shutdown can wait for zero) and, with
/// `--web.max-connections-per-source`, per source address.
#[derive(Debug)]
pub(crate) struct ConnTracker {
    open: AtomicUsize,
    closed: Notify,
    /// Most connections one source (IPv4 address or IPv6 /64) may hold; 0: no cap.
    per_source_max: usize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// One listener's connection budget (`--web.max-connections` for the gateway's own listeners;
/// the probe and telemetry listeners each have their own, so a full gateway never starves
/// kubelet's probe).
pub(crate) type Budget = Arc<Semaphore>;

/// A budget of `max` connections.
pub(crate) fn budget(max: usize) -> Budget {
    Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS)))
}

/// One open connection; dropping it frees its slot and its source's share.
pub(crate) struct ConnSlot {
    front: Arc<Front>,
    source: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let tracker = &self.front.conns;
        if let Some(source) = self.source {
            let mut per_source = tracker.per_source();
            if let Some(n) = per_source.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    per_source.remove(&source);
                }
            }
        }
        if tracker.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracker.closed.notify_waiters();
        }
    }
}

impl ConnTracker {
    pub(crate) fn new(per_source_max: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            per_source_max,
            per_source: Mutex::new(HashMap::new()),
        }
    }

    fn per_source(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot from `budget` for a connection from `peer`, unless the budget or the source's
    /// share is used up.
    fn try_open(front: &Arc<Front>, budget: &Budget, peer: IpAddr) -> Option<ConnSlot> {
        let this = &front.conns;
        let permit = Arc::clone(budget).try_acquire_owned().ok()?;
        let source = if this.per_source_max == 0 {
            None
        } else {
            let source = source_of(peer);
            let mut per_source = this.per_source();
            let n = per_source.entry(source).or_insert(0);
            if *n >= this.per_source_max {
                return None;
            }
            *n += 1;
            Some(source)
        };
        this.open.fetch_add(1, Ordering::AcqRel);
        Some(ConnSlot {
            front: Arc::clone(front),
            source,
            _permit: permit,
        })
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            // Register before checking, so a close between the check and the await is seen.
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The unit a connection is charged to: the IPv4 address, or the IPv6 /64.
fn source_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
    }
}

/// Accepts until shutdown; each connection gets its own task at once.
pub(crate) async fn accept_loop<A: App>(
    front: Arc<Front>,
    app: Arc<A>,
    listener: TcpListener,
    budget: Budget,
) {
    let mut shutdown = front.shutdown_signal();
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning on the error.
                tracing::warn!(err = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = ConnTracker::try_open(&front, &budget, peer.ip()) else {
            front.metrics.connections_refused.inc();
            tracing::debug!(%peer, "connection limit reached, closing new connection");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let front = Arc::clone(&front);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let _slot = slot;
            front.metrics.connections_open.inc();
            serve_connection(&front, app, tcp, peer).await;
            front.metrics.connections_open.dec();
        });
    }
}

async fn serve_connection<A: App>(
    front: &Arc<Front>,
    app: Arc<A>,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let tls = match &front.tls {
        Some(tls) if A::TLS => tls,
        _ => return drive(front, app, tcp, Origin::new(peer.ip(), false), peer, false).await,
    };
    // Boxed, like the connections below: a task's future is as large as its largest state, and
    // the handshake state would otherwise stay reserved for the connection's whole life.
    // The handshake's result is used up inside this block, so the task keeps no room for it
    // (nor for the TLS stream, which `drive` moves into the boxed connection) while serving.
    let serving = {
        let accepted = Box::pin(tls.accept(tcp, front.opts.handshake_timeout)).await;
        match accepted {
            Ok((io, hs)) => {
                Metrics::inc(
                    &front.metrics.handshakes,
                    "kind",
                    if hs.resumed { "resumed" } else { "full" },
                );
                let h2 = hs.alpn_h2 && front.http2;
                let origin = Origin::new(peer.ip(), true).with_client_sans(hs.client_sans);
                drive(front, app, io, origin, peer, h2)
            }
            Err(reason) => {
                Metrics::inc(&front.metrics.handshake_failures, "reason", reason);
                tracing::debug!(%peer, reason, "TLS handshake failed");
                return;
            }
        }
    };
    serving.await;
}

/// Serves HTTP on an established connection until it closes, times out or is drained.
///
/// A plain function that returns the future, not an `async fn`: an async fn keeps room for its
/// arguments in its state for its whole life, and `io` (1.2 KB for a TLS stream) moves into
/// the boxed connection right away. Built here, the connection leaves the returned future
/// (which lives in the connection's task) with only the boxes and what it waits on.
pub(crate) fn drive<A: App, I>(
    front: &Arc<Front>,
    app: Arc<A>,
    io: I,
    origin: Origin,
    peer: SocketAddr,
    h2: bool,
) -> impl Future<Output = ()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = ConnClock::new(!h2);
    let ctx = Arc::new(ConnCtx {
        origin,
        clock: Arc::clone(&clock),
        access_log: front.opts.access_log,
        metrics: Arc::clone(&front.metrics),
    });
    // Not boxed: hyper's HTTP/1 connection keeps a box the size of this future (2.7 KB) for
    // its life, but a parked connection has no hyper connection, and a box per request would
    // cost ~250 instructions on the hot path (callgrind).
    let service = service_fn(move |req| request::serve(Arc::clone(&app), Arc::clone(&ctx), req));
    // Each protocol's connection is boxed at its own size, so an HTTP/1 connection does not
    // carry room for an HTTP/2 one (or the handshake) in its task. HTTP/2 writes are
    // coalesced (see `coalesce`): one TLS write per flush instead of one per DATA frame.
    let conn = if h2 {
        let io = TokioIo::new(ClockedIo::new(Coalesce::new(io), Arc::clone(&clock)));
        let streams = LocalStreams::default();
        let conn = http2_builder(&front.opts, streams.clone()).serve_connection(io, service);
        Proto::H2(WithStreams::new(Box::pin(conn), &streams))
    } else {
        let io = TokioIo::new(ClockedIo::new(io, Arc::clone(&clock)));
        Proto::H1(Box::new(front.h1.serve_connection(io, service)))
    };
    async move {
        match conn {
            Proto::H2(mut c) => {
                supervise(
                    front,
                    Pin::new(&mut c),
                    |mut c| c.conn().graceful_shutdown(),
                    &clock,
                    peer,
                    None,
                )
                .await;
            }
            Proto::H1(mut c) => loop {
                let park_after = front.opts.http1_park_after;
                let end = supervise(
                    front,
                    Pin::new(&mut *c),
                    |c| c.graceful_shutdown(),
                    &clock,
                    peer,
                    park_after,
                )
                .await;
                if end == End::Closed {
                    return;
                }
                // Parking: `supervise` told hyper to close the idle connection (idle: no
                // request in flight, none started since, the last response flushed, so hyper
                // is between requests and closes at once) and did not poll it since. Finish it
                // without shutting the stream down, then let hyper's state go; the stream
                // waits in a box of its own size until the client speaks again. (Boxed, and
                // taken apart in one statement: as locals of this future, the connection and
                // its parts (1.8 and 1.3 KB) would stay reserved in the task.)
                let finishing = Box::pin(unbox(c).without_shutdown());
                let (mut io, read_buf, service) = match finishing.await {
                    Ok(parts) => (
                        Box::new(parts.io.into_inner()),
                        parts.read_buf,
                        parts.service,
                    ),
                    Err(e) => {
                        tracing::debug!(%peer, err = %e, "connection ended with an error");
                        return;
                    }
                };
                if read_buf.is_empty() {
                    drop(read_buf);
                    if !park(front, &mut io, &clock, peer).await {
                        return;
                    }
                } else {
                    // Part of a pipelined request hyper had read: hand it back, and hold it to
                    // the header deadline like any request that starts while idle.
                    io.replay(read_buf);
                    clock.on_read();
                }
                c = Box::new(front.h1.serve_connection(TokioIo::new(unbox(io)), service));
            },
        }
    }
}

/// Moves a value out of its box, freeing the box at once (after `*boxed`, the emptied
/// allocation lives as long as the variable that held it).
#[expect(clippy::boxed_local, reason = "taking the box is the point")]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

enum Proto<A, B> {
    H1(A),
    H2(B),
}

/// How `supervise` left a connection.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Finished, failed, timed out or drained: the stream is closed.
    Closed,
    /// Idle past `park_after` (`Verdict::Park`): told to close gracefully, not polled since.
    Park,
}

/// Drives a connection to its end while watching its timers and the shutdown signal. With
/// `park_after`, returns `End::Park` instead once the clock says the connection may park.
async fn supervise<F>(
    front: &Front,
    mut conn: Pin<&mut F>,
    graceful: impl Fn(Pin<&mut F>),
    clock: &ConnClock,
    peer: SocketAddr,
    park_after: Option<Duration>,
) -> End
where
    F: Future<Output = Result<(), hyper::Error>>,
{
    let mut shutdown = front.shutdown_signal();
    let mut closing = false;
    if *shutdown.borrow_and_update() {
        closing = true;
        graceful(conn.as_mut());
    }
    let opts = &front.opts;
    let mut wait = Duration::ZERO;
    loop {
        // biased: the connection first, in a fixed order, which spares drawing a random
        // start on every wake-up of the busiest future in the gateway.
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, err = %e, "connection ended with an error");
                }
                return End::Closed;
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    closing = true;
                    graceful(conn.as_mut());
                }
            }
            _ = tokio::time::sleep(wait), if !closing => {
                let idle = clock.idle_timeout(opts.idle_timeout, opts.unauthenticated_idle_timeout);
                match clock.check(opts.header_read_timeout, idle, park_after) {
                    Verdict::Wait(d) => wait = d,
                    Verdict::HeaderTimeout => {
                        tracing::debug!(%peer, "request headers too slow, closing connection");
                        return End::Closed;
                    }
                    Verdict::Idle => {
                        tracing::debug!(%peer, "idle connection closed");
                        closing = true;
                        graceful(conn.as_mut());
                    }
                    Verdict::Park => {
                        graceful(conn.as_mut());
                        return End::Park;
                    }
                }
            }
        }
    }
}

/// Waits on a parked connection's stream for the client's next bytes (`true`: they are queued
/// for the next hyper connection). Meanwhile the idle deadline and the shutdown signal close
/// it as hyper would have: with a shutdown of the stream (TLS close_notify, then FIN).
async fn park<I>(front: &Front, io: &mut ClockedIo<I>, clock: &ConnClock, peer: SocketAddr) -> bool
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut shutdown = front.shutdown_signal();
    let opts = &front.opts;
    let mut closing = *shutdown.borrow_and_update();
    let mut wait = Duration::ZERO;
    while !closing {
        tokio::select! {
            biased;
            read = io.read_ahead() => match read {
                Ok(true) => return true,
                // The client closed: hyper answers an idle EOF with a shutdown too.
                Ok(false) => closing = true,
                Err(e) => {
                    tracing::debug!(%peer, err = %e, "connection ended with an error");
                    return false;
                }
            },
            changed = shutdown.changed() => {
                closing = changed.is_err() || *shutdown.borrow();
            }
            _ = tokio::time::sleep(wait) => {
                let idle = clock.idle_timeout(opts.idle_timeout, opts.unauthenticated_idle_timeout);
                match clock.check(opts.header_read_timeout, idle, None) {
                    Verdict::Wait(d) => wait = d,
                    Verdict::Idle => {
                        tracing::debug!(%peer, "idle connection closed");
                        closing = true;
                    }
                    // Not while parked (no request has started; `None` never parks): close.
                    Verdict::HeaderTimeout | Verdict::Park => closing = true,
                }
            }
        }
    }
    let _ = io.shutdown().await;
    false
}
