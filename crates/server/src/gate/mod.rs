//! The gate: what every request on a gated listener passes through before its app answers
//! (DESIGN §1). The stages are listed once, in [`pass`], in Go's order; each lives in its own
//! file, named for its effect, and either lets the request on or answers it:
//!
//! 1. [`rate_limit`]: the global web.yml `rate_limit` bucket → 429;
//! 2. [`authenticate`]: basic auth against web.yml's users → 401, 503 (bcrypt queue full),
//!    429 (per-source failure limiter);
//! 3. the app (proxy: route and forward; telemetry: the gateway's own endpoints);
//! 4. [`headers`]: the configured response headers on whatever answered.
//!
//! Adding a rule is a new stage file plus one line in [`pass`].

mod authenticate;
mod headers;
mod rate_limit;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Request, Response};
use scrapegate_auth::Authenticator;

use crate::body::GateBody;
use crate::generation::Generation;
use crate::telemetry::Metrics;
use crate::upstream::Origin;

/// The per-request state of the gate: swapped whole on reload (the generation) or kept across
/// reloads (the authenticator, whose user table and cache live inside it).
pub(crate) struct GateState {
    /// Headers and rate limit of the config generation in force.
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

/// Runs `req` through the stages, then `app` if every stage let it pass; the configured
/// headers go on the answer either way.
pub(crate) async fn pass<B, F, Fut>(
    gate: &GateState,
    origin: &Origin,
    req: Request<B>,
    app: F,
) -> Response<GateBody>
where
    F: FnOnce(Request<B>) -> Fut,
    Fut: Future<Output = Response<GateBody>>,
{
    let generation = gate.generation.load_full();
    let answer = 'stages: {
        if let Verdict::Answer(r) = rate_limit::check(&generation, &gate.metrics) {
            break 'stages r;
        }
        if let Verdict::Answer(r) = authenticate::check(gate, &req, origin).await {
            break 'stages r;
        }
        app(req).await
    };
    headers::apply(&generation, answer)
}
