//! The gateway's own metrics (prometheus-client, `scrapegate_` prefix).
//!
//! Request-path updates are atomic increments on pre-registered metrics. The children a
//! request touches every time (the `200` counter of its route, its latency histogram, the
//! `allow` decision) are looked up in their family once and then kept in a [`ChildCache`]; the
//! rest go through the family's lookup (a read lock and a hash of the labels).

mod auth;

use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `code` and `route` labels of a request.
pub type RequestLabels = ([(&'static str, u16); 1], [(&'static str, Arc<str>); 1]);
/// A single `name=value` label with a static value.
pub type StaticLabel = [(&'static str, &'static str); 1];
/// `kind` and `outcome` labels of an auth decision.
pub type AuthLabels = [(&'static str, &'static str); 2];
/// The `route` label alone.
pub type RouteLabel = [(&'static str, Arc<str>); 1];
/// The `file` label alone.
pub type FileLabel = [(&'static str, String); 1];

/// Every metric the gateway exports about itself.
#[derive(Debug)]
pub struct Metrics {
    /// Responses sent, by status code and route prefix.
    pub requests: Family<RequestLabels, Counter>,
    /// Auth decisions of the gate by `kind` (`basic`, `bearer`, `anonymous`) and `outcome`
    /// (`allow`, `deny`, `busy`, `limited`, `forbidden`, `method`).
    pub auth_decisions: Family<AuthLabels, Counter>,
    /// Requests refused by the `rate_limit` bucket.
    pub rate_limited: Counter,
    /// Time from sending the request upstream to its response headers.
    pub upstream_latency: Family<RouteLabel, Histogram>,
    /// Upstream failures by kind (`unreachable` and `tls`: answered 502, `timeout`: 504).
    pub upstream_errors: Family<StaticLabel, Counter>,
    /// Upstream requests sent again after a pooled connection turned out closed.
    pub upstream_retries: Counter,
    /// Requests of a coalescing route that joined an upstream fetch in flight instead of
    /// sending their own, by route.
    pub upstream_coalesced: Family<RouteLabel, Counter>,
    /// Requests cut off a shared upstream response for falling too far behind, by route.
    pub upstream_coalesce_cutoffs: Family<RouteLabel, Counter>,
    /// TLS handshakes started with `https://` upstreams, by route: few, as connections are
    /// pooled.
    pub upstream_tls_handshakes: Family<RouteLabel, Counter>,
    /// Requests refused as the client's fault before or while forwarding, by `reason`
    /// (`method`: CONNECT/TRACE, 405; `bad_body`: malformed or broken-off body, 400;
    /// `body_too_large`: over `--web.max-request-body-bytes`, 413).
    pub client_errors: Family<StaticLabel, Counter>,
    /// Open client connections.
    pub connections_open: Gauge,
    /// Connections refused because `--web.max-connections` was reached.
    pub connections_refused: Counter,
    /// Completed TLS handshakes by kind (`full`, `resumed`).
    pub handshakes: Family<StaticLabel, Counter>,
    /// Failed TLS handshakes by reason.
    pub handshake_failures: Family<StaticLabel, Counter>,
    /// 1 when the last reload attempt succeeded.
    pub reload_last_successful: Gauge,
    /// Unix time of the last successful (re)load.
    pub reload_last_success_timestamp: Gauge<f64, AtomicU64>,
    /// Reload attempts by result (`success`, `failure`).
    pub reloads: Family<StaticLabel, Counter>,
    /// Generation of the config in use (1 = the one loaded at startup).
    pub config_generation: Gauge,
    /// `notAfter` of the served certificate, Unix seconds.
    pub cert_not_after: Gauge,
    /// `nextUpdate` of each client CRL, Unix seconds, by file.
    pub crl_next_update: Family<FileLabel, Gauge>,
    /// `auth_decisions{kind="basic",outcome="allow"}`, resolved on first use.
    pub auth_allowed: ChildCache<Counter>,
}

/// One child of a metric family, found in the family on first use and then used directly.
///
/// The family's lookup (a read lock plus hashing the label values) costs more than the
/// increment itself; a cached child shares its value with the family, so the exposition is
/// exactly what the lookup would have produced, and a series still appears only once used.
#[derive(Debug, Clone)]
pub struct ChildCache<M>(OnceLock<M>);

impl<M> Default for ChildCache<M> {
    fn default() -> Self {
        Self(OnceLock::new())
    }
}

impl<M: Clone> ChildCache<M> {
    /// The child of `family` for `labels`, creating it in the family the first time.
    pub fn get<S, C>(&self, family: &Family<S, M, C>, labels: impl FnOnce() -> S) -> &M
    where
        S: Clone + Hash + Eq,
        C: MetricConstructor<M>,
    {
        self.0
            .get_or_init(|| family.get_or_create(&labels()).clone())
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `scrapegate` prefix.
    fn new(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            auth_decisions: Family::default(),
            rate_limited: Counter::default(),
            upstream_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            upstream_errors: Family::default(),
            upstream_retries: Counter::default(),
            upstream_coalesced: Family::default(),
            upstream_coalesce_cutoffs: Family::default(),
            upstream_tls_handshakes: Family::default(),
            client_errors: Family::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            handshakes: Family::default(),
            handshake_failures: Family::default(),
            reload_last_successful: Gauge::default(),
            reload_last_success_timestamp: Gauge::default(),
            reloads: Family::default(),
            config_generation: Gauge::default(),
            cert_not_after: Gauge::default(),
            crl_next_update: Family::default(),
            auth_allowed: ChildCache::default(),
        };
        let r = registry;
        r.register(
            "requests",
            "Responses sent, by status code and route prefix",
            m.requests.clone(),
        );
        r.register(
            "auth_decisions",
            "Authentication and authorization decisions taken by the gate, by credential kind and outcome",
            m.auth_decisions.clone(),
        );
        r.register(
            "rate_limited_requests",
            "Requests refused by the web.yml rate_limit bucket",
            m.rate_limited.clone(),
        );
        r.register(
            "upstream_response_seconds",
            "Time until the upstream's response headers, by route",
            m.upstream_latency.clone(),
        );
        r.register(
            "upstream_errors",
            "Upstream failures answered with 502 or 504, by kind",
            m.upstream_errors.clone(),
        );
        r.register(
            "upstream_retries",
            "Upstream requests retried after a pooled connection turned out closed",
            m.upstream_retries.clone(),
        );
        r.register(
            "upstream_coalesced",
            "Requests of a coalescing route that joined an upstream fetch in flight instead of sending their own, by route",
            m.upstream_coalesced.clone(),
        );
        r.register(
            "upstream_coalesce_cutoffs",
            "Coalesced requests cut off for falling more than 4 MiB behind the shared upstream response, by route",
            m.upstream_coalesce_cutoffs.clone(),
        );
        r.register(
            "upstream_tls_handshakes",
            "TLS handshakes started with https upstreams, by route (connections are pooled)",
            m.upstream_tls_handshakes.clone(),
        );
        r.register(
            "client_errors",
            "Requests refused as the client's fault (method 405, bad_body 400, body_too_large 413), by reason",
            m.client_errors.clone(),
        );
        r.register(
            "connections_open",
            "Open client connections",
            m.connections_open.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused at the --web.max-connections limit",
            m.connections_refused.clone(),
        );
        r.register(
            "tls_handshakes",
            "Completed TLS handshakes, by kind (full or resumed)",
            m.handshakes.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "Failed TLS handshakes, by reason",
            m.handshake_failures.clone(),
        );
        r.register(
            "config_last_reload_successful",
            "1 if the last web.yml reload attempt succeeded, 0 otherwise",
            m.reload_last_successful.clone(),
        );
        r.register(
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful web.yml load",
            m.reload_last_success_timestamp.clone(),
        );
        r.register(
            "config_reloads",
            "web.yml reload attempts, by result",
            m.reloads.clone(),
        );
        r.register(
            "config_generation",
            "Generation of the web.yml in use (1 at startup, +1 per applied reload)",
            m.config_generation.clone(),
        );
        r.register(
            "tls_certificate_not_after_seconds",
            "notAfter of the served TLS certificate, Unix seconds",
            m.cert_not_after.clone(),
        );
        r.register(
            "tls_crl_next_update_seconds",
            "nextUpdate of each client certificate revocation list, Unix seconds, by file",
            m.crl_next_update.clone(),
        );
        m
    }

    /// Counts one response.
    pub fn count_response(&self, code: u16, route: &Arc<str>) {
        self.requests
            .get_or_create(&([("code", code)], [("route", route.clone())]))
            .inc();
    }

    /// Counts one request let through by basic auth.
    pub fn count_auth_allowed(&self) {
        self.auth_allowed
            .get(&self.auth_decisions, || {
                [("kind", "basic"), ("outcome", "allow")]
            })
            .inc();
    }

    /// Counts one auth decision of a kind (`basic`, `bearer`, `anonymous`) with its outcome.
    pub(crate) fn count_auth(&self, kind: crate::gate::trace::AuthKind, outcome: &'static str) {
        self.auth_decisions
            .get_or_create(&[("kind", kind.as_str()), ("outcome", outcome)])
            .inc();
    }

    /// Counts one label of a static-labelled family.
    pub fn inc(family: &Family<StaticLabel, Counter>, name: &'static str, value: &'static str) {
        family.get_or_create(&[(name, value)]).inc();
    }
}

/// The registry plus the typed handles, shared by the gateway and the `/metrics` handler.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    /// The typed metrics.
    pub metrics: Arc<Metrics>,
}

impl Telemetry {
    /// A fresh registry with every gateway metric registered, the authenticator's counters
    /// included.
    pub(crate) fn new(auth: &Arc<scrapegate_auth::Authenticator>) -> Self {
        let mut registry = Registry::with_prefix("scrapegate");
        let metrics = Arc::new(Metrics::new(&mut registry));
        registry.register_collector(Box::new(auth::AuthCollector {
            inner: Arc::clone(auth),
        }));
        registry.register_collector(Box::new(PanicCollector));
        Self { registry, metrics }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// `scrapegate_panics_total`, read from [`crate::panics::count`] at scrape time.
#[derive(Debug)]
struct PanicCollector;

impl prometheus_client::collector::Collector for PanicCollector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let counter =
            prometheus_client::metrics::counter::ConstCounter::new(crate::panics::count());
        counter.encode(enc.encode_descriptor(
            "panics",
            "Panics caught since start: each ended only its own connection or bcrypt job",
            None,
            counter.metric_type(),
        )?)
    }
}

/// The `route` label values of requests no route answered.
pub(crate) mod labels {
    use std::sync::{Arc, LazyLock};

    /// Requests no route matched (404), or refused before routing.
    pub(crate) static UNROUTED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("none"));
    /// The telemetry listener.
    pub(crate) static TELEMETRY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("telemetry"));
    /// The health listener.
    pub(crate) static HEALTH: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("health"));
}

/// The content type of [`Telemetry::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
