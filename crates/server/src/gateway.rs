//! The gateway: shared state, startup from a validated config, and hot reload (`apply`).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use scrapegate_auth::AuthSettings;
use scrapegate_config::ValidatedConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::authn::Authn;
use crate::conn::{self, ConnTracker};
use crate::gate::Handler;
use crate::routes::Routes;
use crate::snapshot::Snapshot;
use crate::telemetry::{Metrics, Telemetry};
use crate::tlsfront::TlsFront;
use crate::upstream::{Upstream, UpstreamOptions};

/// Front-end tuning. The defaults suit scraping: connections idle between scrapes stay open.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest time for a request's headers to arrive (and for the first request on a new
    /// connection).
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request before it is closed. Longer than any
    /// scrape interval, so each scrape reuses its connection.
    pub idle_timeout: Duration,
    /// Open connections beyond this are closed right after accept.
    pub max_connections: usize,
    /// Largest request head (HTTP/1) or header list (HTTP/2); beyond it HTTP/1 gets a 431.
    pub max_header_bytes: usize,
    /// HTTP/2 PING interval, and how long to wait for the acknowledgement.
    pub h2_keepalive_interval: Duration,
    pub h2_keepalive_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Merge the flushes of pipelined HTTP/1 responses. Off by default: with it on, hyper
    /// 1.12 loses its automatic error responses (the 431 for an oversized head is never
    /// flushed before the connection closes). Pipelined requests are answered, in order,
    /// either way.
    pub pipeline_flush: bool,
    /// Park an HTTP/1 connection idle this long with its last response flushed: hyper's
    /// per-connection state (an 8 KiB read and an 8 KiB write buffer, 1.8 KB of connection)
    /// is dropped while the stream stays open, and rebuilt from the next request's first
    /// bytes. `None`: never park.
    pub http1_park_after: Option<Duration>,
    /// The upstream client.
    pub upstream: UpstreamOptions,
    /// Caches, bcrypt pool and failure limiter of basic auth.
    pub auth: AuthSettings,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 4096,
            max_header_bytes: 64 * 1024,
            h2_keepalive_interval: Duration::from_secs(60),
            h2_keepalive_timeout: Duration::from_secs(20),
            h2_max_concurrent_streams: 250,
            pipeline_flush: false,
            // Back-to-back requests never wait this long, so they never pay for a rebuild
            // (a few allocations); against any scrape interval it is short, so an idle
            // connection holds the buffers for a small part of its idle time.
            http1_park_after: Some(Duration::from_secs(1)),
            upstream: UpstreamOptions::default(),
            auth: AuthSettings::default(),
        }
    }
}

/// The gateway could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError(pub String);

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GatewayError {}

/// What an applied reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The generation now serving.
    pub generation: u64,
    /// A one-line summary of the TLS swap, when TLS is on.
    pub tls: Option<String>,
    /// Settings that changed in the file but take effect only after a restart (`http2`).
    pub needs_restart: Vec<String>,
}

/// Why a reload was refused; the previous config keeps serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The edit would switch TLS on or off, which only a restart can do (as in Go).
    TlsToggle {
        /// True when the new file enables TLS on a gateway serving plain HTTP.
        enable: bool,
    },
    /// The new TLS material could not be installed.
    Tls(String),
    /// The new users could not be installed.
    Auth(String),
    /// The headers could not be turned into HTTP headers.
    Headers(String),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TlsToggle { enable: true } => f.write_str(
                "the new config enables TLS on a gateway serving plain HTTP; TLS can only be switched on by a restart",
            ),
            Self::TlsToggle { enable: false } => f.write_str(
                "the new config disables TLS on a gateway serving TLS; TLS can only be switched off by a restart",
            ),
            Self::Tls(e) => write!(f, "TLS: {e}"),
            Self::Auth(e) => write!(f, "basic_auth_users: {e}"),
            Self::Headers(e) => write!(f, "headers: {e}"),
        }
    }
}

impl std::error::Error for ApplyError {}

/// State shared by every listener and connection task.
pub(crate) struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub auth: Authn,
    pub tls: Option<TlsFront>,
    /// HTTP/2 as decided at startup (TLS on and `http2: true`); a reload cannot change it.
    pub http2: bool,
    pub routes: Routes,
    pub upstream: Upstream,
    pub telemetry: Telemetry,
    pub opts: ServerOptions,
    pub conns: ConnTracker,
    pub h1: hyper::server::conn::http1::Builder,
    pub h2: hyper::server::conn::http2::Builder<TokioExecutor>,
    pub shutdown: watch::Sender<bool>,
    ready: AtomicBool,
    /// Serialises reloads; holds the current generation.
    apply_lock: Mutex<u64>,
}

impl Shared {
    /// Ready: serving, and not draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !*self.shutdown.borrow()
    }
}

/// A running gateway. Cheap to clone; every clone is the same gateway.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("tls", &self.shared.tls.is_some())
            .field("http2", &self.shared.http2)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Gateway {
    /// Builds the gateway from the startup config (`None`: no web.yml, plain HTTP, no auth).
    /// Returns load-time warnings (e.g. TLS settings clamped for rustls) to log.
    pub fn new(
        cfg: Option<&ValidatedConfig>,
        routes: Routes,
        opts: ServerOptions,
    ) -> Result<(Self, Vec<String>), GatewayError> {
        let mut warnings = Vec::new();
        let (snapshot, auth, tls, http2) = match cfg {
            None => (
                Snapshot::empty(),
                Authn::new(&[], opts.auth.clone()).map_err(GatewayError)?,
                None,
                false,
            ),
            Some(cfg) => {
                let snapshot = Snapshot::build(cfg, 1).map_err(GatewayError)?;
                let auth = Authn::new(&cfg.users, opts.auth.clone()).map_err(GatewayError)?;
                let tls = match &cfg.tls {
                    None => None,
                    Some(settings) => {
                        let (front, w) =
                            TlsFront::new(settings, cfg.http2).map_err(GatewayError)?;
                        warnings.extend(w);
                        Some(front)
                    }
                };
                let http2 = tls.is_some() && cfg.http2;
                (snapshot, auth, tls, http2)
            }
        };
        let collector = auth.collector();
        let telemetry = Telemetry::new(|registry| registry.register_collector(Box::new(collector)));
        let m = &telemetry.metrics;
        m.reload_last_successful.set(1);
        m.reload_last_success_timestamp.set(unix_now());
        m.config_generation.set(1);
        if let Some(t) = tls.as_ref().and_then(TlsFront::cert_not_after) {
            m.cert_not_after.set(t);
        }
        let (h1, h2) = builders(&opts);
        let (shutdown, _) = watch::channel(false);
        let shared = Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            auth,
            tls,
            http2,
            routes,
            upstream: Upstream::new(&opts.upstream),
            telemetry,
            conns: ConnTracker::new(opts.max_connections),
            opts,
            h1,
            h2,
            shutdown,
            ready: AtomicBool::new(false),
            apply_lock: Mutex::new(1),
        };
        Ok((
            Self {
                shared: Arc::new(shared),
            },
            warnings,
        ))
    }

    /// True when the gateway serves TLS (fixed at startup).
    pub fn tls_enabled(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// True when HTTP/2 is offered by ALPN (fixed at startup).
    pub fn http2_enabled(&self) -> bool {
        self.shared.http2
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.telemetry.metrics
    }

    /// The OpenMetrics text of the gateway's own metrics.
    pub fn render_metrics(&self) -> String {
        self.shared.telemetry.render()
    }

    /// The config generation now serving.
    pub fn generation(&self) -> u64 {
        self.shared.snapshot.load().generation
    }

    /// Applies a reloaded config: builds the new state off the request path and swaps it in.
    /// Users are replaced with the verification cache kept; the rate limiter is rebuilt
    /// (a deliberate difference from Go, which ignores `rate_limit` changes). On error nothing
    /// request-visible changes and the last good config keeps serving.
    pub fn apply(&self, cfg: &ValidatedConfig) -> Result<ApplyReport, ApplyError> {
        let result = self.apply_inner(cfg);
        let m = &self.shared.telemetry.metrics;
        match &result {
            Ok(report) => {
                Metrics::inc(&m.reloads, "result", "success");
                m.reload_last_successful.set(1);
                m.reload_last_success_timestamp.set(unix_now());
                m.config_generation.set(report.generation as i64);
            }
            Err(_) => self.record_reload_failure(),
        }
        result
    }

    /// Counts a reload that failed before reaching `apply` (the file did not validate).
    pub fn record_reload_failure(&self) {
        let m = &self.shared.telemetry.metrics;
        Metrics::inc(&m.reloads, "result", "failure");
        m.reload_last_successful.set(0);
    }

    fn apply_inner(&self, cfg: &ValidatedConfig) -> Result<ApplyReport, ApplyError> {
        let shared = &self.shared;
        let mut generation = shared
            .apply_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (&shared.tls, &cfg.tls) {
            (None, Some(_)) => return Err(ApplyError::TlsToggle { enable: true }),
            (Some(_), None) => return Err(ApplyError::TlsToggle { enable: false }),
            _ => {}
        }
        let next = *generation + 1;
        let snapshot = Snapshot::build(cfg, next).map_err(ApplyError::Headers)?;
        let tls = match (&shared.tls, &cfg.tls) {
            (Some(front), Some(settings)) => {
                let summary = front.swap(settings).map_err(ApplyError::Tls)?;
                if let Some(t) = front.cert_not_after() {
                    shared.telemetry.metrics.cert_not_after.set(t);
                }
                Some(summary)
            }
            _ => None,
        };
        shared
            .auth
            .replace_users(&cfg.users)
            .map_err(ApplyError::Auth)?;
        shared.snapshot.store(Arc::new(snapshot));
        *generation = next;
        let mut needs_restart = Vec::new();
        if shared.tls.is_some() && cfg.http2 != shared.http2 {
            needs_restart.push(format!(
                "http2 changed to {}; it takes effect after a restart",
                cfg.http2
            ));
        }
        Ok(ApplyReport {
            generation: next,
            tls,
            needs_restart,
        })
    }

    /// Starts serving `listener` with `handler` behind the gate. Returns the accept loop's
    /// task, which ends on [`Gateway::shutdown`].
    pub fn serve(&self, listener: TcpListener, handler: Handler) -> JoinHandle<()> {
        self.shared.ready.store(true, Ordering::Relaxed);
        tokio::spawn(conn::accept_loop(
            Arc::clone(&self.shared),
            listener,
            handler,
        ))
    }

    /// Stops accepting, and asks every open connection to finish its in-flight requests and
    /// close (HTTP/1: after the current response; HTTP/2: GOAWAY).
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Waits until every connection has closed, at most `timeout`. True when all closed.
    pub async fn drain(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.shared.conns.wait_idle())
            .await
            .is_ok()
    }

    /// Runs one request through the gate in process (no socket on the client side): rate
    /// limit, basic auth, headers, then the proxy or telemetry handler. For embedding and
    /// benchmarks; the listeners use the same pipeline.
    pub async fn handle<B>(
        &self,
        req: http::Request<B>,
        peer: std::net::SocketAddr,
        https: bool,
        handler: Handler,
    ) -> http::Response<crate::body::GateBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
        B::Error: Into<crate::body::BoxError>,
    {
        let origin = crate::upstream::Origin::new(peer.ip(), https);
        crate::gate::gate(&self.shared, &origin, handler, req)
            .await
            .0
    }

    /// Open client connections right now.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.open()
    }
}

/// The HTTP/1.1 and HTTP/2 connection builders. The protocol is chosen by ALPN, so no
/// detection is needed; hyper's own builders are used because hyper-util's auto builder does
/// not expose `max_header_size`, without which the HTTP/1 head limit is only approximate.
fn builders(
    opts: &ServerOptions,
) -> (
    hyper::server::conn::http1::Builder,
    hyper::server::conn::http2::Builder<TokioExecutor>,
) {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        // Off: it would also cut idle keep-alive connections; see `clock`.
        .header_read_timeout(None)
        .keep_alive(true)
        .half_close(false)
        .pipeline_flush(opts.pipeline_flush)
        .max_header_size(opts.max_header_bytes)
        // Room beyond the head limit, so a head just over it is read whole and answered 431
        // instead of leaving unread bytes that turn the close into a reset.
        .max_buf_size(opts.max_header_bytes.saturating_mul(2).max(8192));
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .keep_alive_interval(Some(opts.h2_keepalive_interval))
        .keep_alive_timeout(opts.h2_keepalive_timeout)
        .max_concurrent_streams(opts.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX));
    (h1, h2)
}
