//! The keep-alive pool of plain-TCP upstream connections, which every route without TLS or a
//! unix socket shares: hyper's HTTP/1 client connections, kept idle per upstream authority.
//!
//! It does what a gateway in front of a few exporters needs and nothing more: a checkout is a
//! lock, a short scan by authority and a pop (the most recently used connection first, so the
//! fewest stay warm); a connection comes back when its response body has been read to the end
//! (a body dropped earlier takes its connection with it, as hyper would not reuse it either).
//! hyper-util's general client (per-request connect racing, a hashed pool, a task per
//! returned connection) cost about 6,800 instructions per proxied request more (callgrind).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use http::uri::Authority;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::deferred_write::DeferredWrite;
use super::{UPSTREAM_READ_BUF, UpstreamFailure};
use crate::body::GateBody;

/// Shared by the pool handle, the connections out on a request, and the idle sweeper.
#[derive(Debug)]
struct Shared {
    /// Idle connections by authority (a gateway has few upstreams: a scan beats hashing),
    /// oldest first in each list.
    idle: Mutex<Vec<(Authority, Vec<Idle>)>>,
    idle_timeout: Duration,
    max_idle: usize,
    connect_timeout: Duration,
    /// Whether the sweeper task runs (started with the first connection, inside the runtime).
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<GateBody>,
    since: Instant,
}

/// The pool (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct TcpPool {
    shared: Arc<Shared>,
}

/// A connection out on one request; given back with [`Lease::release`] once the response
/// body has ended.
#[derive(Debug)]
pub(crate) struct Lease {
    shared: Weak<Shared>,
    authority: Authority,
    sender: SendRequest<GateBody>,
}

impl TcpPool {
    /// An empty pool: idle connections are closed after `idle_timeout`, at most `max_idle` are
    /// kept per upstream, and connecting may take `connect_timeout`.
    pub(crate) fn new(idle_timeout: Duration, max_idle: usize, connect_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(Vec::new()),
                idle_timeout,
                max_idle,
                connect_timeout,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// A connection to `authority` ready to take a request: an idle one, or a new one.
    pub(crate) async fn lease(&self, authority: &Authority) -> Result<Lease, UpstreamFailure> {
        while let Some(mut sender) = self.take_idle(authority) {
            // Ready at once, unless its last response ended a moment ago and its connection
            // task has not run since; an error means the upstream closed it meanwhile.
            if sender.ready().await.is_ok() {
                return Ok(self.lease_of(authority, sender));
            }
        }
        let sender = self.connect(authority).await?;
        Ok(self.lease_of(authority, sender))
    }

    fn lease_of(&self, authority: &Authority, sender: SendRequest<GateBody>) -> Lease {
        Lease {
            shared: Arc::downgrade(&self.shared),
            authority: authority.clone(),
            sender,
        }
    }

    /// The most recently returned idle connection to `authority` that is still open; expired
    /// and closed ones met on the way are dropped (which closes them).
    fn take_idle(&self, authority: &Authority) -> Option<SendRequest<GateBody>> {
        let mut idle = self.shared.lock();
        let list = &mut idle.iter_mut().find(|(a, _)| a == authority)?.1;
        let now = Instant::now();
        while let Some(conn) = list.pop() {
            if now.duration_since(conn.since) < self.shared.idle_timeout && !conn.sender.is_closed()
            {
                return Some(conn.sender);
            }
        }
        None
    }

    /// Opens a connection: every address of the host in turn, each within the connect timeout,
    /// then the HTTP/1 handshake (nothing is sent yet). The connection's own task is spawned.
    async fn connect(
        &self,
        authority: &Authority,
    ) -> Result<SendRequest<GateBody>, UpstreamFailure> {
        self.start_sweeper();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let deadline = Instant::now() + self.shared.connect_timeout;
        let addrs = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| unreachable(authority, "name resolution timed out"))?
            .map_err(|e| unreachable(authority, &e.to_string()))?;
        let mut last = String::from("no address");
        for addr in addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    // Requests and answers are small and go out whole: no Nagle delay.
                    let _ = tcp.set_nodelay(true);
                    let (sender, conn) = http1::Builder::new()
                        // Reads of 16 KiB at most: see `UPSTREAM_READ_BUF`.
                        .max_buf_size(UPSTREAM_READ_BUF)
                        .handshake(TokioIo::new(DeferredWrite::new(tcp)))
                        .await
                        .map_err(|e| unreachable(authority, &e.to_string()))?;
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "upstream connection ended with an error");
                        }
                    });
                    return Ok(sender);
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => {
                    last = "connect timed out".into();
                    break;
                }
            }
        }
        Err(unreachable(authority, &last))
    }

    /// Starts the task that closes connections idle for longer than the idle timeout, once;
    /// it ends with the pool.
    fn start_sweeper(&self) {
        if self.shared.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        let every = (self.shared.idle_timeout / 2).max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let now = Instant::now();
                let mut idle = shared.lock();
                for (_, list) in idle.iter_mut() {
                    list.retain(|c| {
                        now.duration_since(c.since) < shared.idle_timeout && !c.sender.is_closed()
                    });
                }
                idle.retain(|(_, list)| !list.is_empty());
            }
        });
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Authority, Vec<Idle>)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unreachable(authority: &Authority, reason: &str) -> UpstreamFailure {
    tracing::debug!(upstream = %authority, reason, "cannot connect to the upstream");
    UpstreamFailure::Unreachable
}

impl Lease {
    /// The connection, to send the request on.
    pub(crate) fn sender(&mut self) -> &mut SendRequest<GateBody> {
        &mut self.sender
    }

    /// Gives the connection back to the pool: its response has been read to the end.
    pub(crate) fn release(self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        if self.sender.is_closed() {
            return;
        }
        let mut idle = shared.lock();
        let list = match idle.iter().position(|(a, _)| *a == self.authority) {
            Some(i) => &mut idle[i].1,
            None => {
                idle.push((self.authority, Vec::new()));
                &mut idle.last_mut().expect("just pushed").1
            }
        };
        if list.len() >= shared.max_idle {
            // Full: this one closes. The oldest would be the better one to close, but a full
            // pool is rare (--upstream.max-idle-conns is above any common concurrency).
            return;
        }
        list.push(Idle {
            sender: self.sender,
            since: Instant::now(),
        });
    }
}
