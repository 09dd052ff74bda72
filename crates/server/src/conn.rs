//! Accepting and serving connections: the accept loop (which never awaits a handshake), the
//! connection limit, the per-connection task with its TLS handshake, protocol choice by ALPN,
//! and the idle / slow-header / shutdown handling around hyper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::clock::{ClockedIo, ConnClock, Verdict};
use crate::gate::{self, ConnCtx, Handler};
use crate::gateway::Shared;
use crate::telemetry::Metrics;
use crate::upstream::Origin;

/// Counts open connections, enforces the limit and lets shutdown wait for zero.
#[derive(Debug)]
pub(crate) struct ConnTracker {
    slots: Arc<Semaphore>,
    open: AtomicUsize,
    closed: Notify,
}

/// One open connection; dropping it frees the slot.
pub(crate) struct ConnSlot<'a> {
    tracker: &'a ConnTracker,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnSlot<'_> {
    fn drop(&mut self) {
        if self.tracker.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.closed.notify_waiters();
        }
    }
}

impl ConnTracker {
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
        }
    }

    fn try_open(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> ConnSlot<'_> {
        self.open.fetch_add(1, Ordering::AcqRel);
        ConnSlot {
            tracker: self,
            _permit: permit,
        }
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub async fn wait_idle(&self) {
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

/// Accepts until shutdown; each connection gets its own task at once.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, handler: Handler) {
    let mut shutdown = shared.shutdown.subscribe();
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
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = shared.conns.try_open() else {
            shared.telemetry.metrics.connections_refused.inc();
            tracing::debug!(%peer, "connection limit reached, closing new connection");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _slot = shared.conns.slot(permit);
            shared.telemetry.metrics.connections_open.inc();
            serve_connection(&shared, tcp, peer, handler).await;
            shared.telemetry.metrics.connections_open.dec();
        });
    }
}

async fn serve_connection(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    handler: Handler,
) {
    // The health listener is plain HTTP even when web.yml enables TLS: its probes hold
    // neither a client certificate nor the CA to check ours (see `health`).
    if handler == Handler::Health {
        return drive(shared, tcp, peer, handler, false, false).await;
    }
    let Some(tls) = &shared.tls else {
        return drive(shared, tcp, peer, handler, false, false).await;
    };
    // Boxed, like the connections below: a task's future is as large as its largest state, and
    // the handshake state would otherwise stay reserved for the connection's whole life.
    match Box::pin(tls.accept(tcp, shared.opts.handshake_timeout)).await {
        Ok((io, hs)) => {
            let m = &shared.telemetry.metrics;
            Metrics::inc(
                &m.handshakes,
                "kind",
                if hs.resumed { "resumed" } else { "full" },
            );
            let h2 = hs.alpn_h2 && shared.http2;
            drive(shared, io, peer, handler, true, h2).await;
        }
        Err(reason) => {
            Metrics::inc(
                &shared.telemetry.metrics.handshake_failures,
                "reason",
                reason,
            );
            tracing::debug!(%peer, reason, "TLS handshake failed");
        }
    }
}

/// Serves HTTP on an established connection until it closes, times out or is drained.
async fn drive<I>(
    shared: &Arc<Shared>,
    io: I,
    peer: SocketAddr,
    handler: Handler,
    https: bool,
    h2: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = ConnClock::new(!h2);
    let ctx = Arc::new(ConnCtx {
        origin: Origin::new(peer.ip(), https),
        handler,
        clock: Arc::clone(&clock),
    });
    let svc_shared = Arc::clone(shared);
    let service =
        service_fn(move |req| gate::serve(Arc::clone(&svc_shared), Arc::clone(&ctx), req));
    let io = TokioIo::new(ClockedIo::new(io, Arc::clone(&clock)));
    // Each protocol's connection is boxed at its own size, so an HTTP/1 connection does not
    // carry room for an HTTP/2 one (or the handshake) in its task.
    if h2 {
        let mut conn = Box::pin(shared.h2.serve_connection(io, service));
        supervise(
            shared,
            conn.as_mut(),
            |c| c.graceful_shutdown(),
            &clock,
            peer,
        )
        .await;
    } else {
        let mut conn = Box::pin(shared.h1.serve_connection(io, service));
        supervise(
            shared,
            conn.as_mut(),
            |c| c.graceful_shutdown(),
            &clock,
            peer,
        )
        .await;
    }
}

/// Drives a connection to its end while watching its timers and the shutdown signal.
async fn supervise<F>(
    shared: &Shared,
    mut conn: std::pin::Pin<&mut F>,
    graceful: impl Fn(std::pin::Pin<&mut F>),
    clock: &ConnClock,
    peer: SocketAddr,
) where
    F: std::future::Future<Output = Result<(), hyper::Error>>,
{
    let mut shutdown = shared.shutdown.subscribe();
    let mut closing = false;
    if *shutdown.borrow_and_update() {
        closing = true;
        graceful(conn.as_mut());
    }
    let opts = &shared.opts;
    let mut wait = Duration::ZERO;
    loop {
        // biased: the connection first, in a fixed order, which spares drawing a random
        // start on every wake-up of the busiest future in the gateway.
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    closing = true;
                    graceful(conn.as_mut());
                }
            }
            _ = tokio::time::sleep(wait), if !closing => {
                match clock.check(opts.header_read_timeout, opts.idle_timeout) {
                    Verdict::Wait(d) => wait = d,
                    Verdict::HeaderTimeout => {
                        tracing::debug!(%peer, "request headers too slow, closing connection");
                        return;
                    }
                    Verdict::Idle => {
                        tracing::debug!(%peer, "idle connection closed");
                        closing = true;
                        graceful(conn.as_mut());
                    }
                }
            }
        }
    }
}

impl crate::Gateway {
    /// Serves one already-accepted plain-HTTP/1.1 connection over any byte stream (e.g. a
    /// `tokio::io::duplex` half) through the same front end as the listeners: hyper's HTTP/1
    /// builder, the connection clock and the gate. No connection slot is taken. For fuzzing
    /// and tests; not a stable API.
    #[doc(hidden)]
    pub async fn serve_http1_io<I>(&self, io: I, peer: SocketAddr, handler: Handler)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        drive(&self.shared, io, peer, handler, false, false).await;
    }
}
