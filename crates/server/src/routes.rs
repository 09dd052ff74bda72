//! Routing: `--upstream URL` and `--route PREFIX=URL`, or the `routes` of scrapegate.yml with
//! their `allow` rules and anonymous paths; longest prefix wins (DESIGN §3).
//!
//! A prefix matches on a path-segment boundary (`/node` matches `/node` and `/node/x`, not
//! `/nodes`). When the route's URL has a path, that path replaces the prefix, as nginx's
//! `proxy_pass` does; otherwise the path goes upstream unchanged.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use scrapegate_model::{Allow, RouteRule, UpstreamTransport, UpstreamUrl};
use scrapegate_tls::TlsError;

use crate::telemetry::{ChildCache, Metrics};
use crate::upstream::shared_fetch::SharedFetches;
use crate::upstream::{RoutePool, UpstreamOptions};

/// One upstream target, parsed by the model crate (flags and scrapegate.yml alike).
pub type Target = UpstreamUrl;

/// One route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Always starts with `/`; `/` is the default upstream.
    pub prefix: String,
    /// Where admitted requests go.
    pub target: Target,
    /// TLS and unix socket toward the upstream (from the URL's scheme for the flags' routes).
    pub transport: UpstreamTransport,
    /// The route's own connection pool when its transport is not plain TCP (set by
    /// [`Routes::connect`]); plain TCP uses the shared pool.
    pub(crate) pool: Option<Arc<RoutePool>>,
    /// Who may use the route (`None`: anyone authenticated).
    pub allow: Option<Allow>,
    /// Exact paths served without credentials.
    pub anonymous: Vec<String>,
    /// `Allow` header of a 405, when `allow.methods` is set.
    pub methods_header: Option<HeaderValue>,
    /// Concurrent GET/HEAD requests with the same path, query, `Accept` and
    /// `Accept-Encoding` share one upstream request (`coalesce: true`, `--upstream.coalesce`).
    pub coalesce: bool,
    /// The route's upstream fetches in flight that requests can join (used when `coalesce`).
    /// Clones of a route (the flags' routes in each generation) share it.
    pub(crate) fetches: Arc<SharedFetches>,
    /// The label used in metrics (the prefix).
    pub label: Arc<str>,
    /// This route's `requests{code="200"}` counter and latency histogram: every scrape
    /// updates both, so they skip the family lookup.
    pub(crate) ok_responses: ChildCache<Counter>,
    pub(crate) latency: ChildCache<Histogram>,
    /// This route's `upstream_coalesced` and `upstream_coalesce_cutoffs` counters.
    pub(crate) coalesced: ChildCache<Counter>,
    pub(crate) cutoffs: ChildCache<Counter>,
}

/// The path a routed request is sent upstream with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamPath {
    /// The request's own path (and query) go upstream unchanged: the common case, which
    /// costs no copy.
    AsRequested,
    /// The route's URL path replaced the matched prefix.
    Rewritten(String),
}

impl UpstreamPath {
    /// The path as text, given the request's own path.
    pub fn as_str<'a>(&'a self, requested: &'a str) -> &'a str {
        match self {
            Self::AsRequested => requested,
            Self::Rewritten(p) => p,
        }
    }
}

/// An invalid `--upstream` or `--route` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(pub String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

impl Route {
    /// A route without rules (the flags' routes).
    fn open(prefix: String, target: Target) -> Self {
        Self {
            label: Arc::from(prefix.as_str()),
            prefix,
            transport: UpstreamTransport::of_url(&target),
            pool: None,
            target,
            allow: None,
            anonymous: Vec::new(),
            methods_header: None,
            coalesce: false,
            fetches: Arc::default(),
            ok_responses: ChildCache::default(),
            latency: ChildCache::default(),
            coalesced: ChildCache::default(),
            cutoffs: ChildCache::default(),
        }
    }

    /// True when `path` is one of the route's anonymous paths.
    pub fn is_anonymous(&self, path: &str) -> bool {
        self.anonymous.iter().any(|p| p == path)
    }
}

/// The routing table, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Builds the table from the default upstream (prefix `/`) and `PREFIX=URL` entries.
    pub fn new(default: Option<&str>, extra: &[String]) -> Result<Self, RouteError> {
        let mut routes = Vec::new();
        if let Some(url) = default {
            let target = Target::parse(url).map_err(RouteError)?;
            routes.push(Route::open("/".into(), target));
        }
        for entry in extra {
            let (prefix, url) = entry.split_once('=').ok_or_else(|| {
                RouteError(format!("route {entry:?} is not of the form PREFIX=URL"))
            })?;
            if !prefix.starts_with('/') {
                return Err(RouteError(format!(
                    "route prefix {prefix:?} must start with '/'"
                )));
            }
            let prefix = match prefix.trim_end_matches('/') {
                "" => "/".to_owned(),
                p => p.to_owned(),
            };
            if routes.iter().any(|r: &Route| r.prefix == prefix) {
                return Err(RouteError(format!(
                    "route prefix {prefix:?} is given twice"
                )));
            }
            let target = Target::parse(url).map_err(RouteError)?;
            routes.push(Route::open(prefix, target));
        }
        Ok(Self::sorted(routes))
    }

    /// The routes of a validated scrapegate.yml, with their rules.
    pub fn from_rules(rules: &[RouteRule]) -> Self {
        let routes = rules
            .iter()
            .map(|rule| Route {
                allow: rule.allow.clone(),
                anonymous: rule.anonymous.clone(),
                methods_header: rule
                    .allow
                    .as_ref()
                    .and_then(|a| a.methods.as_ref())
                    .and_then(|methods| {
                        let names: Vec<&str> = methods.iter().map(http::Method::as_str).collect();
                        HeaderValue::try_from(names.join(", ")).ok()
                    }),
                transport: rule.transport.clone(),
                coalesce: rule.coalesce,
                ..Route::open(rule.prefix.clone(), rule.upstream.clone())
            })
            .collect();
        Self::sorted(routes)
    }

    /// The same routes with coalescing switched on or off for every one of them
    /// (`--upstream.coalesce` for the routes of `--upstream` and `--route`).
    pub fn with_coalescing(mut self, on: bool) -> Self {
        for route in &mut self.routes {
            route.coalesce = on;
        }
        self
    }

    fn sorted(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes }
    }

    /// Gives every route whose transport is not plain TCP its own pool: the one of the same
    /// route in `previous` (the generation serving) when its upstream and transport are
    /// unchanged, so its connections stay open, or a new one. TLS warnings go to `warnings`.
    pub(crate) fn connect(
        &mut self,
        previous: Option<&Routes>,
        opts: &UpstreamOptions,
        metrics: &Metrics,
        warnings: &mut Vec<String>,
    ) -> Result<(), TlsError> {
        for route in &mut self.routes {
            if route.coalesce {
                // Both series exist from the start, at 0: Prometheus's `increase()` sees the
                // first join or cut-off only when the series was there before it.
                let label = || [("route", route.label.clone())];
                route.coalesced.get(&metrics.upstream_coalesced, label);
                route.cutoffs.get(&metrics.upstream_coalesce_cutoffs, label);
            }
            if route.transport.is_plain_tcp() {
                continue;
            }
            let kept = previous
                .and_then(|p| p.routes.iter().find(|r| r.prefix == route.prefix))
                .and_then(|r| r.pool.as_ref())
                .filter(|pool| pool.serves(&route.target, &route.transport));
            route.pool = Some(match kept {
                Some(pool) => {
                    // Warnings are for every load, kept pool or not.
                    if let Some(tls) = &route.transport.tls {
                        scrapegate_tls::upstream_client_tls(
                            tls,
                            route.target.host(),
                            &route.label,
                            warnings,
                        )?;
                    }
                    Arc::clone(pool)
                }
                None => Arc::new(RoutePool::build(
                    &route.label,
                    &route.target,
                    &route.transport,
                    opts,
                    metrics,
                    warnings,
                )?),
            });
        }
        Ok(())
    }

    /// True when no upstream is configured at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// The route for `path` and the path to send upstream.
    pub fn resolve<'a>(&'a self, path: &str) -> Option<(&'a Route, UpstreamPath)> {
        self.routes.iter().find_map(|r| {
            let rest = strip_segment_prefix(path, &r.prefix)?;
            let upstream_path = match &r.target.base_path {
                None => return Some((r, UpstreamPath::AsRequested)),
                Some(base) if rest.is_empty() => base.clone(),
                Some(base) => {
                    let mut p = base.trim_end_matches('/').to_owned();
                    if !rest.starts_with('/') {
                        p.push('/');
                    }
                    p.push_str(rest);
                    p
                }
            };
            Some((r, UpstreamPath::Rewritten(upstream_path)))
        })
    }
}

/// The part of `path` after `prefix` when `prefix` matches whole segments.
fn strip_segment_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix == "/" {
        return path.strip_prefix('/').map(|_| path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upstream path for `path`, as text.
    fn upstream(t: &Routes, path: &str) -> String {
        t.resolve(path).unwrap().1.as_str(path).to_owned()
    }

    fn table() -> Routes {
        Routes::new(
            Some("http://127.0.0.1:9100"),
            &[
                "/node=http://127.0.0.1:9101/".into(),
                "/node/deep=http://127.0.0.1:9102/x/".into(),
                "/keep=http://127.0.0.1:9103".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn default_upstream_keeps_the_path() {
        let t = table();
        let (r, p) = t.resolve("/metrics").unwrap();
        assert_eq!(r.prefix, "/");
        assert_eq!(p, UpstreamPath::AsRequested);
        assert_eq!(upstream(&t, "/metrics"), "/metrics");
    }

    #[test]
    fn url_path_replaces_the_prefix() {
        let t = table();
        let (r, _) = t.resolve("/node/metrics").unwrap();
        assert_eq!(r.target.authority.as_str(), "127.0.0.1:9101");
        assert_eq!(upstream(&t, "/node/metrics"), "/metrics");
        assert_eq!(upstream(&t, "/node"), "/");
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        let (r, _) = t.resolve("/node/deep/metrics").unwrap();
        assert_eq!(r.prefix, "/node/deep");
        assert_eq!(upstream(&t, "/node/deep/metrics"), "/x/metrics");
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let t = table();
        assert_eq!(t.resolve("/nodes").unwrap().0.prefix, "/");
    }

    #[test]
    fn route_without_path_forwards_unchanged() {
        let t = table();
        assert_eq!(
            t.resolve("/keep/metrics").unwrap().1,
            UpstreamPath::AsRequested
        );
        assert_eq!(upstream(&t, "/keep/metrics"), "/keep/metrics");
    }

    #[test]
    fn no_default_means_unmatched_paths_have_no_route() {
        let t = Routes::new(None, &["/a=http://127.0.0.1:1".into()]).unwrap();
        assert!(t.resolve("/b").is_none());
    }

    #[test]
    fn host_header_names_the_port_unless_it_is_80() {
        let host = |url: &str| Target::parse(url).unwrap().host_header;
        assert_eq!(host("http://127.0.0.1:9100"), "127.0.0.1:9100");
        assert_eq!(host("http://[::1]:9100/x"), "[::1]:9100");
        assert_eq!(host("http://exporter:80"), "exporter");
        assert_eq!(host("http://exporter"), "exporter");
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("127.0.0.1:9100").is_err());
        assert!(Routes::new(None, &["node=http://x".into()]).is_err());
        assert!(Routes::new(None, &["/a".into()]).is_err());
    }
}
