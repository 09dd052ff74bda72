//! The gate: what every request on a gated listener passes through before its app answers
//! (DESIGN §1). The stages are listed once, in [`pass`], in Go's order followed by ours; each
//! lives in its own file, named for its effect, and either lets the request on or answers it:
//!
//! 0. [`methods`]: `CONNECT` and `TRACE` → 405, never forwarded;
//! 1. [`rate_limit`]: the global web.yml `rate_limit` bucket → 429;
//! 2. [`authenticate`]: anonymous paths pass; basic auth against web.yml's users or a bearer
//!    token of scrapegate.yml → 401, 503 (bcrypt queue full), 429 (per-source limiter);
//! 3. [`authorize`]: the route's `allow` rule → 405 (method), 403 (identity);
//! 4. the app (proxy: forward to the route's upstream; telemetry: the gateway's endpoints);
//! 5. [`headers`]: the configured response headers on whatever answered.
//!
//! Adding a rule is a new stage file plus one line in [`pass`].

mod authenticate;
mod authorize;
mod headers;
mod methods;
mod rate_limit;
pub(crate) mod trace;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Request, Response};
use scrapegate_auth::Authenticator;

use crate::body::GateBody;
use crate::generation::Generation;
use crate::routes::Route;
use crate::telemetry::Metrics;
use crate::upstream::Origin;
use trace::Trace;

/// The per-request state of the gate: swapped whole on reload (the generation) or kept across
/// reloads (the authenticator, whose user table and cache live inside it).
pub(crate) struct GateState {
    /// Headers, rate limit, routes and tokens of the config generation in force.
    pub(crate) generation: ArcSwap<Generation>,
    /// Basic auth: users, verification cache, bcrypt pool, failure limiter.
    pub(crate) auth: Arc<Authenticator>,
    /// Counters the stages update.
    pub(crate) metrics: Arc<Metrics>,
}

/// What a stage decided.
pub(crate) enum Verdict {
    /// Let the request on to the next stage.
    Pass,
    /// Answer the request with this response; later stages and the app do not run.
    Answer(Response<GateBody>),
}

/// A request at the gate: where it came from, the route it matched (if any) and what the
/// stages have found out so far.
pub(crate) struct Exchange<'a> {
    pub(crate) gate: &'a GateState,
    pub(crate) generation: &'a Generation,
    pub(crate) origin: &'a Origin,
    pub(crate) route: Option<&'a Route>,
    pub(crate) trace: &'a mut Trace,
}

/// Runs `req` through the stages, then `app` if every stage let it pass; the configured
/// headers go on the answer either way.
pub(crate) async fn pass<B, F, Fut>(
    mut ex: Exchange<'_>,
    req: Request<B>,
    app: F,
) -> Response<GateBody>
where
    F: FnOnce(Request<B>) -> Fut,
    Fut: Future<Output = Response<GateBody>>,
{
    let answer = 'stages: {
        if let Verdict::Answer(r) = methods::check(&mut ex, &req) {
            break 'stages r;
        }
        if let Verdict::Answer(r) = rate_limit::check(&mut ex) {
            break 'stages r;
        }
        if let Verdict::Answer(r) = authenticate::check(&mut ex, &req).await {
            break 'stages r;
        }
        if let Verdict::Answer(r) = authorize::check(&mut ex, &req) {
            break 'stages r;
        }
        app(req).await
    };
    headers::apply(ex.generation, answer)
}
