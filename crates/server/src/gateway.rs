//! The gateway: built from the start-up config, serves listeners with their apps, reloads
//! (prepare → commit) and drains. The public face of this crate.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use scrapegate_auth::Authenticator;
use scrapegate_config::{ConfigError, ValidatedConfig};
use scrapegate_model::ConfigSet;
use scrapegate_tls::TlsError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::apps::App;
use crate::apps::health::HealthApp;
use crate::apps::proxy::{Admitted, ProxyApp};
use crate::apps::telemetry::TelemetryApp;
use crate::body::{GateBody, RequestBody};
use crate::front::conn::{self, ConnTracker};
use crate::front::tls::TlsFront;
use crate::front::{Front, Readiness};
use crate::gate::GateState;
use crate::gate::trace::Trace;
use crate::generation::{
    self, Fixed, Generation, GenerationError, Pools, ReloadError, ReloadReport,
};
use crate::options::{ServerOptions, http1_builder};
use crate::routes::Routes;
use crate::telemetry::{Metrics, Telemetry};
use crate::upstream::{Origin, Upstream};

/// The gateway could not start (the same checks refuse a reload).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The TLS settings cannot be served.
    #[error("tls_server_config: {0}")]
    Tls(#[source] TlsError),
    /// Routes come from both the flags and scrapegate.yml, or a route's upstream TLS cannot
    /// be set up.
    #[error(transparent)]
    Routes(GenerationError),
}

/// A running gateway. Cheap to clone; every clone is the same gateway.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    front: Arc<Front>,
    gate: Arc<GateState>,
    proxy: Arc<ProxyApp>,
    telemetry_app: Arc<TelemetryApp>,
    health: Arc<HealthApp>,
    telemetry: Arc<Telemetry>,
    /// `--upstream`/`--route`: the routes of every generation whose scrapegate.yml has none.
    flag_routes: Routes,
    /// Serialises reloads, so a prepared generation is committed on top of the one it was
    /// prepared against.
    reload_lock: Mutex<()>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("tls", &self.tls_enabled())
            .field("http2", &self.http2_enabled())
            .finish_non_exhaustive()
    }
}

/// Connections each of the telemetry and health listeners takes (besides the gateway's own
/// `--web.max-connections`): scrapers of the gateway and probes, never many.
const SIDE_LISTENER_CONNECTIONS: usize = 64;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `scrapegate_tls_crl_next_update_seconds`: one sample per client CRL in force that has a
/// nextUpdate (lists dropped by a reload disappear).
fn set_crl_gauges(metrics: &Metrics, front: &TlsFront) {
    metrics.crl_next_update.clear();
    for (file, next_update) in front.crl_next_updates() {
        if let Some(next) = next_update {
            metrics
                .crl_next_update
                .get_or_create(&[("file", file.display().to_string())])
                .set(next);
        }
    }
}

impl Gateway {
    /// Builds the gateway from a start-up web.yml alone (`None`: no web.yml, plain HTTP, no
    /// auth) and the flags' routes. Returns the TLS plan's warnings to log.
    pub fn new(
        cfg: Option<&ValidatedConfig>,
        routes: Routes,
        opts: ServerOptions,
    ) -> Result<(Self, Vec<String>), GatewayError> {
        let set = ConfigSet {
            web: cfg.cloned(),
            policy: None,
        };
        Self::start(&set, routes, opts)
    }

    /// Builds the gateway from its start-up configuration files and the flags' routes (which
    /// serve unless scrapegate.yml has routes; both at once is an error). Returns the TLS
    /// plan's warnings (settings clamped for rustls) to log.
    pub fn start(
        set: &ConfigSet,
        flag_routes: Routes,
        opts: ServerOptions,
    ) -> Result<(Self, Vec<String>), GatewayError> {
        let cfg = set.web.as_ref();
        let mut warnings = Vec::new();
        let (tls, http2) = match cfg.and_then(|c| c.tls.as_ref().map(|t| (c, t))) {
            None => (None, false),
            Some((cfg, settings)) => {
                let plan = scrapegate_tls::plan(settings, cfg.http2).map_err(GatewayError::Tls)?;
                let front = TlsFront::new(&plan).map_err(GatewayError::Tls)?;
                warnings.extend(plan.warnings);
                (Some(front), cfg.http2)
            }
        };
        let users = cfg.map_or(&[][..], |c| &c.users);
        let auth = Arc::new(Authenticator::new(users, opts.auth.clone()));
        let telemetry = Arc::new(Telemetry::new(&auth));
        let metrics = Arc::clone(&telemetry.metrics);
        let pools = Pools {
            opts: &opts.upstream,
            metrics: &metrics,
            previous: None,
        };
        let generation = Generation::of(set, 1, &flag_routes, &pools, &mut warnings)
            .map_err(GatewayError::Routes)?;
        metrics.reload_last_successful.set(1);
        metrics.reload_last_success_timestamp.set(unix_now());
        metrics.config_generation.set(1);
        if let Some(front) = &tls {
            metrics.cert_not_after.set(front.cert_not_after());
            set_crl_gauges(&metrics, front);
        }
        let gate = Arc::new(GateState {
            generation: ArcSwap::from_pointee(generation),
            auth,
            metrics: Arc::clone(&metrics),
        });
        let readiness = Readiness::new();
        let h1 = http1_builder(&opts);
        let front = Arc::new(Front {
            conns: ConnTracker::new(opts.max_connections_per_source),
            tls,
            http2,
            h1,
            metrics: Arc::clone(&metrics),
            readiness: readiness.clone(),
            opts,
        });
        let inner = Inner {
            proxy: Arc::new(ProxyApp {
                gate: Arc::clone(&gate),
                upstream: Upstream::new(&front.opts.upstream),
                panic_on_path: front.opts.panic_on_path.clone(),
            }),
            telemetry_app: Arc::new(TelemetryApp {
                gate: Arc::clone(&gate),
                telemetry: Arc::clone(&telemetry),
                readiness: readiness.clone(),
            }),
            health: Arc::new(HealthApp { readiness, metrics }),
            front,
            gate,
            telemetry,
            flag_routes,
            reload_lock: Mutex::new(()),
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            warnings,
        ))
    }

    /// True when the gateway serves TLS (fixed at start-up).
    pub fn tls_enabled(&self) -> bool {
        self.inner.front.tls.is_some()
    }

    /// True when HTTP/2 is offered by ALPN (fixed at start-up).
    pub fn http2_enabled(&self) -> bool {
        self.inner.front.http2
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.telemetry.metrics
    }

    /// The OpenMetrics text of the gateway's own metrics.
    pub fn render_metrics(&self) -> String {
        self.inner.telemetry.render()
    }

    /// The config generation now serving.
    pub fn generation(&self) -> u64 {
        self.inner.gate.generation.load().number
    }

    /// Applies a reloaded config as one generation: everything is prepared beside the
    /// generation in force (with the checks start-up runs), then committed in one step. On
    /// error nothing request-visible changes and the last good generation keeps serving.
    /// Counted either way in `scrapegate_config_reloads_total` and the last-reload gauges.
    pub fn apply(&self, cfg: &ValidatedConfig) -> Result<ReloadReport, ReloadError> {
        self.apply_set(&ConfigSet {
            web: Some(cfg.clone()),
            policy: None,
        })
    }

    /// [`Gateway::apply`] for a web.yml and scrapegate.yml pair loaded together.
    pub fn apply_set(&self, set: &ConfigSet) -> Result<ReloadReport, ReloadError> {
        let inner = &*self.inner;
        let result = {
            let _serialised = inner.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
            let tls = inner.front.tls.as_ref();
            let fixed = Fixed {
                tls,
                http2: inner.front.http2,
                flag_routes: &inner.flag_routes,
                upstream: &inner.front.opts.upstream,
            };
            let next = self.generation() + 1;
            generation::prepare(set, next, &fixed, &inner.gate)
                .map(|prepared| generation::commit(prepared, tls, &inner.gate))
        };
        match &result {
            Ok(report) => self.count_reload_success(report),
            Err(_) => self.count_reload_failure(),
        }
        result
    }

    /// Counts a reload whose files did not load (the watcher's `Failed`); nothing changes.
    pub fn refuse(&self, _error: &ConfigError) {
        self.count_reload_failure();
    }

    fn count_reload_success(&self, report: &ReloadReport) {
        let m = self.metrics();
        Metrics::inc(&m.reloads, "result", "success");
        m.reload_last_successful.set(1);
        m.reload_last_success_timestamp.set(unix_now());
        m.config_generation
            .set(i64::try_from(report.generation).unwrap_or(i64::MAX));
        if let Some(tls) = &report.tls {
            m.cert_not_after.set(tls.cert_not_after_unix);
        }
        if let Some(front) = &self.inner.front.tls {
            set_crl_gauges(m, front);
        }
    }

    fn count_reload_failure(&self) {
        let m = self.metrics();
        Metrics::inc(&m.reloads, "result", "failure");
        m.reload_last_successful.set(0);
    }

    /// Serves scrapes on `listener`: the gate, then the routed upstream. Returns the accept
    /// loop's task, which ends on [`Gateway::shutdown`].
    pub fn serve_proxy(&self, listener: TcpListener) -> JoinHandle<()> {
        let max = self.inner.front.opts.max_connections;
        self.serve(listener, Arc::clone(&self.inner.proxy), max)
    }

    /// Serves the gateway's own `/metrics`, `/-/healthy` and `/-/ready` behind the gate, with
    /// a connection budget of its own.
    pub fn serve_telemetry(&self, listener: TcpListener) -> JoinHandle<()> {
        let telemetry = Arc::clone(&self.inner.telemetry_app);
        self.serve(listener, telemetry, SIDE_LISTENER_CONNECTIONS)
    }

    /// Serves the probe endpoints in plain HTTP, outside the gate (`--web.health-address`),
    /// with a connection budget of its own: a gateway listener full of clients never starves
    /// the probe.
    pub fn serve_health(&self, listener: TcpListener) -> JoinHandle<()> {
        let health = Arc::clone(&self.inner.health);
        self.serve(listener, health, SIDE_LISTENER_CONNECTIONS)
    }

    fn serve<A: App>(&self, listener: TcpListener, app: Arc<A>, max: usize) -> JoinHandle<()> {
        let front = &self.inner.front;
        front.readiness.set_serving();
        let budget = conn::budget(max.min(front.opts.max_connections));
        tokio::spawn(conn::accept_loop(Arc::clone(front), app, listener, budget))
    }

    /// Stops accepting, and asks every open connection to finish its in-flight requests and
    /// close (HTTP/1: after the current response; HTTP/2: GOAWAY).
    pub fn shutdown(&self) {
        self.inner.front.readiness.begin_shutdown();
    }

    /// Waits until every connection has closed, at most `timeout`. True when all closed.
    pub async fn drain(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.inner.front.conns.wait_idle())
            .await
            .is_ok()
    }

    /// Open client connections right now.
    pub fn open_connections(&self) -> usize {
        self.inner.front.conns.open()
    }

    /// Runs one scrape through the proxy app in process (no socket on the client side): the
    /// gate, then the routed upstream. For embedding and benchmarks; the listeners use the
    /// same app.
    pub async fn handle<B: RequestBody>(
        &self,
        req: http::Request<B>,
        peer: SocketAddr,
        https: bool,
    ) -> http::Response<GateBody> {
        let origin = Origin::new(peer.ip(), https);
        self.inner
            .proxy
            .call(req, &origin, &mut Trace::default())
            .await
    }

    /// Runs one request through the proxy app's gate only (rate limit, authentication, the
    /// route's rules) and answers an empty 200 where the proxy would forward: the gate's own
    /// cost, for benchmarks. Not a stable API.
    #[doc(hidden)]
    pub async fn admit<B: RequestBody>(
        &self,
        req: http::Request<B>,
        peer: SocketAddr,
    ) -> http::StatusCode {
        let origin = Origin::new(peer.ip(), true);
        let resp = self
            .inner
            .proxy
            .route_and_pass(req, &origin, &mut Trace::default(), Admitted::Answer200)
            .await;
        resp.status()
    }

    /// Serves one already-accepted plain-HTTP/1.1 connection over any byte stream (e.g. a
    /// `tokio::io::duplex` half) through the same front end and proxy app as the listeners.
    /// No connection slot is taken. For fuzzing and tests; not a stable API.
    #[doc(hidden)]
    pub async fn serve_http1_io<I>(&self, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        conn::drive(
            &self.inner.front,
            Arc::clone(&self.inner.proxy),
            io,
            Origin::new(peer.ip(), false),
            peer,
            false,
        )
        .await;
    }

    #[cfg(test)]
    pub(crate) fn health_app(&self) -> &HealthApp {
        &self.inner.health
    }

    #[cfg(test)]
    pub(crate) fn telemetry_app(&self) -> &TelemetryApp {
        &self.inner.telemetry_app
    }
}
