//! The proxy listener's app: the gate, then route and forward. The route is resolved before
//! the gate runs, so the request is counted under its route whatever answers it; forwarding
//! failures become 502 (unreachable, TLS handshake) or 504 (deadline), or 400 and 413 when the client's
//! request body was at fault (counted as client errors, not upstream ones). On a coalescing
//! route, GET/HEAD requests share an upstream fetch in flight ([`shared_fetch`]) after the
//! gate, so only admitted requests join.

use http::{Request, Response, StatusCode};

use super::App;
use crate::body::{self, GateBody, RequestBody};
use crate::gate::trace::Trace;
use crate::gate::{self, Exchange, GateState};
use crate::routes::{Route, UpstreamPath};
use crate::telemetry::{Metrics, labels};
use crate::upstream::shared_fetch::{self, FetchKey};
use crate::upstream::{Origin, Upstream, UpstreamFailure};

use std::sync::Arc;

/// What becomes of a request the gate admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// Forward it to its route's upstream (every listener).
    Forward,
    /// Answer an empty 200 at once (benchmarks of the gate alone).
    Answer200,
}

/// The pooled upstream client behind the gate; the routes come with each generation.
pub(crate) struct ProxyApp {
    pub(crate) gate: Arc<GateState>,
    pub(crate) upstream: Upstream,
    /// `ServerOptions::panic_on_path` (tests only).
    pub(crate) panic_on_path: Option<String>,
}

impl App for ProxyApp {
    const NAME: &'static str = "proxy";

    async fn call<B: RequestBody>(
        &self,
        req: Request<B>,
        origin: &Origin,
        trace: &mut Trace,
    ) -> Response<GateBody> {
        if self
            .panic_on_path
            .as_deref()
            .is_some_and(|p| p == req.uri().path())
        {
            panic!("panic_on_path test hook: {}", req.uri().path());
        }
        self.route_and_pass(req, origin, trace, Admitted::Forward)
            .await
    }
}

impl ProxyApp {
    /// Resolves the route, runs the gate, does `then` with an admitted request (unrouted:
    /// 404) and counts the response under its route.
    pub(crate) async fn route_and_pass<B: RequestBody>(
        &self,
        req: Request<B>,
        origin: &Origin,
        trace: &mut Trace,
        then: Admitted,
    ) -> Response<GateBody> {
        let metrics = &self.gate.metrics;
        let generation = self.gate.generation.load_full();
        let resolved = generation.routes.resolve(req.uri().path());
        let resolved = &resolved;
        let route = resolved.as_ref().map(|(route, _)| *route);
        if trace.wants_identity {
            trace.route = Some(route.map_or_else(|| labels::UNROUTED.clone(), |r| r.label.clone()));
        }
        let exchange = Exchange {
            gate: &self.gate,
            generation: &generation,
            origin,
            route,
            trace,
        };
        let resp = gate::pass(exchange, req, |req| async move {
            match resolved {
                Some((route, path)) => match then {
                    Admitted::Forward => self.forward(req, route, path, origin).await,
                    Admitted::Answer200 => Response::new(body::full(bytes::Bytes::new())),
                },
                None => body::not_found(),
            }
        })
        .await;
        match (resp.status(), route) {
            // The answer to nearly every scrape: counted without the family lookup.
            (StatusCode::OK, Some(route)) => {
                route
                    .ok_responses
                    .get(&metrics.requests, || {
                        ([("code", 200)], [("route", route.label.clone())])
                    })
                    .inc();
            }
            (status, Some(route)) => metrics.count_response(status.as_u16(), &route.label),
            (status, None) => metrics.count_response(status.as_u16(), &labels::UNROUTED),
        }
        resp
    }

    /// Forwards an admitted request to its route's upstream; failures become 502 or 504 (the
    /// upstream's), 400 or 413 (the request body's).
    async fn forward<B: RequestBody>(
        &self,
        req: Request<B>,
        route: &Route,
        path: &UpstreamPath,
        origin: &Origin,
    ) -> Response<GateBody> {
        let metrics = &self.gate.metrics;
        // Coalescing routes only: the default path pays this one test.
        let result = if route.coalesce
            && let Some(key) = FetchKey::of(&req)
        {
            shared_fetch::forward(&self.upstream, route, metrics, key, req, path, origin).await
        } else {
            self.upstream
                .forward(req, &route.target, route.pool.as_deref(), path, origin)
                .await
                .map(|(resp, exchange)| {
                    route
                        .latency
                        .get(&metrics.upstream_latency, || {
                            [("route", route.label.clone())]
                        })
                        .observe(exchange.latency.as_secs_f64());
                    if exchange.retried {
                        metrics.upstream_retries.inc();
                    }
                    resp
                })
        };
        match result {
            Ok(resp) => resp,
            Err(failure) => {
                if failure.is_client_error() {
                    Metrics::inc(&metrics.client_errors, "reason", failure.label());
                } else {
                    Metrics::inc(&metrics.upstream_errors, "kind", failure.label());
                }
                match failure {
                    UpstreamFailure::Unreachable | UpstreamFailure::Tls => body::bad_gateway(),
                    UpstreamFailure::Timeout(budget) => body::gateway_timeout(&route.label, budget),
                    UpstreamFailure::BadRequestBody => body::bad_request_body(),
                    UpstreamFailure::BodyTooLarge => body::body_too_large(),
                }
            }
        }
    }
}
