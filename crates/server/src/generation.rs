//! Config generations and reload as prepare → commit.
//!
//! A generation is everything one web.yml and its scrapegate.yml decide: the TLS state, the
//! user table, and the request-path state of the gate ([`Generation`]: headers, rate limit,
//! routes with their rules, bearer tokens). [`prepare`] builds
//! all of it beside the generation in force, running every check start-up runs (the TLS plan
//! with Go's HTTP/2 cipher rule included), and touches nothing; only when every part is ready
//! does [`commit`] put them in force, in steps that cannot fail. A reload that fails at any
//! point therefore leaves TLS, users, headers, rate limit, routes and tokens all on the last
//! good generation.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use scrapegate_auth::{BearerTokens, PreparedUsers};
use scrapegate_model::ConfigSet;
use scrapegate_tls::{PreparedTls, TlsError};

use crate::front::tls::TlsFront;
use crate::gate::GateState;
use crate::ratelimit::RateLimiter;
use crate::routes::Routes;
use crate::telemetry::Metrics;
use crate::upstream::UpstreamOptions;

/// The gate's request-path state of one config generation, loaded once per request.
#[derive(Debug)]
pub(crate) struct Generation {
    /// The configured response headers, ready to insert.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The `rate_limit` bucket (rebuilt, full, on every applied reload: unlike Go, a changed
    /// `rate_limit` applies without a restart).
    pub(crate) limiter: RateLimiter,
    /// The routes: scrapegate.yml's with their rules, or the flags' (`--upstream`, `--route`).
    pub(crate) routes: Routes,
    /// scrapegate.yml's bearer tokens (none: bearer authentication is off).
    pub(crate) tokens: BearerTokens,
    /// 1 for the config loaded at start-up, +1 per applied reload.
    pub(crate) number: u64,
}

/// What the routes' own pools (TLS, unix sockets) are built with.
pub(crate) struct Pools<'a> {
    pub(crate) opts: &'a UpstreamOptions,
    pub(crate) metrics: &'a Metrics,
    /// The generation serving, whose pools are kept where a route is unchanged.
    pub(crate) previous: Option<&'a Generation>,
}

impl Generation {
    /// The state `set` asks for, as generation `number`; `flag_routes` serve unless
    /// scrapegate.yml has routes of its own. Upstream TLS warnings go to `warnings`.
    pub(crate) fn of(
        set: &ConfigSet,
        number: u64,
        flag_routes: &Routes,
        pools: &Pools<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, GenerationError> {
        let policy = set.policy.as_ref();
        let mut routes = match policy.filter(|p| !p.routes.is_empty()) {
            Some(_) if !flag_routes.is_empty() => {
                return Err(GenerationError::Routes(RouteConflict));
            }
            Some(p) => Routes::from_rules(&p.routes),
            None => flag_routes.clone(),
        };
        routes
            .connect(
                pools.previous.map(|g| &g.routes),
                pools.opts,
                pools.metrics,
                warnings,
            )
            .map_err(GenerationError::UpstreamTls)?;
        Ok(Self {
            headers: set
                .web
                .as_ref()
                .map(|w| w.headers.clone())
                .unwrap_or_default(),
            limiter: RateLimiter::new(set.web.as_ref().map(|w| w.rate_limit).unwrap_or_default()),
            routes,
            tokens: policy
                .map(|p| BearerTokens::new(&p.tokens))
                .unwrap_or_default(),
            number,
        })
    }
}

/// Why the request-path state of a generation cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// Routes come from both the flags and scrapegate.yml.
    #[error(transparent)]
    Routes(RouteConflict),
    /// A route's upstream TLS cannot be set up.
    #[error("{0}")]
    UpstreamTls(#[source] TlsError),
}

/// Routes given both by `--upstream`/`--route` and by scrapegate.yml's `routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "routes are given both by --upstream/--route and by the routes of --config.file; use one or the other"
)]
pub struct RouteConflict;

/// Why a reload was refused; the last good generation keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The edit would switch TLS on or off, which only a restart can do (as in Go).
    #[error(
        "the new config {} TLS on a gateway serving {}; TLS can only be switched {} by a restart",
        if *enable { "enables" } else { "disables" },
        if *enable { "plain HTTP" } else { "TLS" },
        if *enable { "on" } else { "off" }
    )]
    TlsToggle {
        /// True when the new file enables TLS on a gateway serving plain HTTP.
        enable: bool,
    },
    /// The TLS settings cannot be served: the same check that refuses them at start-up.
    #[error("tls_server_config: {0}")]
    Tls(#[source] TlsError),
    /// scrapegate.yml now has routes while the flags give routes too, or a route's upstream
    /// TLS cannot be set up.
    #[error(transparent)]
    Routes(GenerationError),
}

/// What a committed reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The generation now serving.
    pub generation: u64,
    /// The TLS swap, when TLS is on.
    pub tls: Option<scrapegate_tls::SwapReport>,
    /// Warnings of the new TLS plan (settings clamped for rustls, clients that will fail).
    pub warnings: Vec<String>,
    /// The new file changes `http2`, which only a restart applies (ALPN is fixed at start-up).
    pub http2_needs_restart: Option<bool>,
}

/// A complete next generation, not yet in force.
pub(crate) struct Prepared {
    generation: Generation,
    tls: Option<PreparedTls>,
    users: PreparedUsers,
    warnings: Vec<String>,
    http2_needs_restart: Option<bool>,
}

/// What a prepared generation is built against: the serving TLS front end and HTTP/2 choice,
/// and the flags' routes.
pub(crate) struct Fixed<'a> {
    pub(crate) tls: Option<&'a TlsFront>,
    pub(crate) http2: bool,
    pub(crate) flag_routes: &'a Routes,
    pub(crate) upstream: &'a UpstreamOptions,
}

/// Builds the next generation from `set` beside the one serving. Nothing request-visible
/// changes, whatever the outcome.
pub(crate) fn prepare(
    set: &ConfigSet,
    number: u64,
    fixed: &Fixed<'_>,
    gate: &GateState,
) -> Result<Prepared, ReloadError> {
    let http2 = fixed.http2;
    let no_tls = None;
    let cfg_tls = set.web.as_ref().map_or(&no_tls, |w| &w.tls);
    let cfg_http2 = set.web.as_ref().is_some_and(|w| w.http2);
    let (tls, mut warnings) = match (fixed.tls, cfg_tls) {
        (None, Some(_)) => return Err(ReloadError::TlsToggle { enable: true }),
        (Some(_), None) => return Err(ReloadError::TlsToggle { enable: false }),
        (None, None) => (None, Vec::new()),
        (Some(front), Some(settings)) => {
            // Planned with the HTTP/2 setting the listeners were started with: the file's
            // `http2` only applies at a restart, but a restart must be able to serve it too,
            // so the new file is also planned as written.
            let serving = scrapegate_tls::plan(settings, http2).map_err(ReloadError::Tls)?;
            let prepared = front.prepare(&serving).map_err(ReloadError::Tls)?;
            if cfg_http2 != http2 {
                scrapegate_tls::plan(settings, cfg_http2).map_err(ReloadError::Tls)?;
            }
            (Some(prepared), serving.warnings)
        }
    };
    let http2_needs_restart = (tls.is_some() && cfg_http2 != http2).then_some(cfg_http2);
    let serving = gate.generation.load();
    let pools = Pools {
        opts: fixed.upstream,
        metrics: &gate.metrics,
        previous: Some(&serving),
    };
    let generation = Generation::of(set, number, fixed.flag_routes, &pools, &mut warnings)
        .map_err(ReloadError::Routes)?;
    let users = set.web.as_ref().map_or(&[][..], |w| &w.users);
    Ok(Prepared {
        generation,
        tls,
        users: gate.auth.prepare_users(users),
        warnings,
        http2_needs_restart,
    })
}

/// Puts a prepared generation in force: TLS for new handshakes, then users, then the gate's
/// request-path state. Each step is a pointer swap that cannot fail.
pub(crate) fn commit(prepared: Prepared, tls: Option<&TlsFront>, gate: &GateState) -> ReloadReport {
    let Prepared {
        generation,
        tls: prepared_tls,
        users,
        warnings,
        http2_needs_restart,
    } = prepared;
    let tls_report = match (tls, prepared_tls) {
        (Some(front), Some(next)) => Some(front.commit(next)),
        _ => None,
    };
    gate.auth.install_users(users);
    let number = generation.number;
    gate.generation.store(Arc::new(generation));
    ReloadReport {
        generation: number,
        tls: tls_report,
        warnings,
        http2_needs_restart,
    }
}
