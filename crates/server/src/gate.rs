//! The Gate: what happens to every request (DESIGN §1), in Go's order: rate limit → configured
//! headers → basic auth → the handler (upstream proxy or the gateway's own telemetry).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::authn::Decision;
use crate::body::{self, BoxError, GateBody};
use crate::clock::{ConnClock, InflightGuard};
use crate::gateway::Shared;
use crate::health;
use crate::routes::{Route, UpstreamPath};
use crate::telemetry::{self, Metrics};
use crate::upstream::{Origin, UpstreamFailure};

/// Which application sits behind the gate on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Forward to the routed upstream.
    Proxy,
    /// The gateway's own `/metrics`, `/-/healthy` and `/-/ready`.
    Telemetry,
    /// Unauthenticated plain-HTTP `/-/healthy` and `/-/ready` for probes, outside the gate
    /// (see [`crate::health`]).
    Health,
}

/// What the gate knows about the connection a request came on.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub origin: Origin,
    pub handler: Handler,
    pub clock: Arc<ConnClock>,
}

/// Runs one request through the gate and counts the response.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    conn: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<GuardedBody>, std::convert::Infallible> {
    let guard = conn.clock.request_started();
    let (resp, served) = gate(&shared, &conn.origin, conn.handler, req).await;
    let metrics = &shared.telemetry.metrics;
    match (resp.status(), served) {
        // The answer to nearly every scrape: counted without the family lookup.
        (StatusCode::OK, Served::Route(route)) => {
            route
                .ok_responses
                .get(&metrics.requests, || {
                    ([("code", 200)], [("route", route.label.clone())])
                })
                .inc();
        }
        (status, served) => metrics.count_response(status.as_u16(), &served.label()),
    }
    Ok(resp.map(|inner| GuardedBody {
        inner,
        _guard: guard,
    }))
}

/// The route label used for requests answered before (or without) a route.
fn unrouted() -> Arc<str> {
    static L: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    L.get_or_init(|| Arc::from("none")).clone()
}

fn telemetry_label() -> Arc<str> {
    static L: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    L.get_or_init(|| Arc::from("telemetry")).clone()
}

/// What answered a request, for the `route` label of its count.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Served<'a> {
    Route(&'a Route),
    Unrouted,
    Telemetry,
    Health,
}

impl Served<'_> {
    fn label(self) -> Arc<str> {
        match self {
            Self::Route(r) => r.label.clone(),
            Self::Unrouted => unrouted(),
            Self::Telemetry => telemetry_label(),
            Self::Health => health::label(),
        }
    }
}

/// The pipeline for one request from `origin`.
pub(crate) async fn gate<'s, B>(
    shared: &'s Shared,
    origin: &Origin,
    handler: Handler,
    req: Request<B>,
) -> (Response<GateBody>, Served<'s>)
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    // The health listener skips the whole gate: probes hold no credentials, must not spend
    // rate-limit tokens, and get nothing but the fixed probe texts.
    if handler == Handler::Health {
        return (health::respond(shared, &req), Served::Health);
    }
    let metrics = &shared.telemetry.metrics;
    let snap = shared.snapshot.load_full();
    let route = match handler {
        Handler::Proxy => shared.routes.resolve(req.uri().path()),
        Handler::Telemetry | Handler::Health => None,
    };
    let served = match (handler, &route) {
        (Handler::Telemetry, _) => Served::Telemetry,
        (Handler::Health, _) => Served::Health,
        (Handler::Proxy, Some((r, _))) => Served::Route(r),
        (Handler::Proxy, None) => Served::Unrouted,
    };

    // 1. rate limit: counted before auth, as in Go; a 429 carries no configured headers.
    if !snap.limiter.allow() {
        metrics.rate_limited.inc();
        return (body::too_many_requests(), served);
    }

    // 2. basic auth.
    let decision = shared
        .auth
        .check(
            req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes),
            origin.peer,
        )
        .await;
    let mut resp = match decision {
        Decision::Allow => {
            if shared.auth.has_users() {
                metrics.count_auth_allowed();
            }
            match (handler, route) {
                (Handler::Telemetry, _) => telemetry(shared, &req),
                // Answered before the gate above; kept total so the match needs no panic.
                (Handler::Health, _) => health::respond(shared, &req),
                (Handler::Proxy, None) => body::not_found(),
                (Handler::Proxy, Some((route, path))) => {
                    proxy(shared, req, route, &path, origin).await
                }
            }
        }
        refused => refusal(metrics, refused),
    };

    // 3. configured headers: Go sets them before auth and the app, so every response except
    // its 429 and 500 carries them, with the configured value replacing any other.
    let status = resp.status();
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::INTERNAL_SERVER_ERROR {
        let h = resp.headers_mut();
        for (name, value) in &snap.headers {
            h.insert(name.clone(), value.clone());
        }
    }
    (resp, served)
}

/// Forwards an admitted request to its route's upstream; failures become 502 or 504.
async fn proxy<B>(
    shared: &Shared,
    req: Request<B>,
    route: &Route,
    path: &UpstreamPath,
    origin: &Origin,
) -> Response<GateBody>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let metrics = &shared.telemetry.metrics;
    match shared
        .upstream
        .forward(req, &route.target, path, origin)
        .await
    {
        Ok((resp, ex)) => {
            route
                .latency
                .get(&metrics.upstream_latency, || {
                    [("route", route.label.clone())]
                })
                .observe(ex.latency.as_secs_f64());
            if ex.retried {
                metrics.upstream_retries.inc();
            }
            resp
        }
        Err(f) => {
            Metrics::inc(&metrics.upstream_errors, "kind", f.label());
            match f {
                UpstreamFailure::Unreachable => body::bad_gateway(),
                UpstreamFailure::Timeout => body::gateway_timeout(),
            }
        }
    }
}

/// The response for a request basic auth did not let through.
fn refusal(metrics: &Metrics, decision: Decision) -> Response<GateBody> {
    let secs = |d: std::time::Duration| d.as_secs_f64().ceil() as u64;
    match decision {
        // `Allow` never gets here (the caller serves it); were it to, failing closed is right.
        Decision::Deny | Decision::Allow => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "deny");
            body::unauthorized()
        }
        Decision::Busy(after) => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "busy");
            body::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable\n",
                secs(after),
            )
        }
        Decision::Limited(after) => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "limited");
            body::retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests\n",
                secs(after),
            )
        }
    }
}

/// `/metrics`, `/-/healthy`, `/-/ready` of the telemetry listener.
fn telemetry<B>(shared: &Shared, req: &Request<B>) -> Response<GateBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return body::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = Response::new(body::full(shared.telemetry.render()));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(telemetry::CONTENT_TYPE),
            );
            resp
        }
        "/-/healthy" => body::text(StatusCode::OK, "scrapegate is Healthy.\n"),
        "/-/ready" if shared.is_ready() => body::text(StatusCode::OK, "scrapegate is Ready.\n"),
        "/-/ready" => body::text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n"),
        _ => body::not_found(),
    }
}

pin_project_lite::pin_project! {
    /// A response body that marks the request finished (for the idle timer) when hyper has
    /// sent or dropped it.
    pub struct GuardedBody {
        #[pin]
        inner: GateBody,
        _guard: InflightGuard,
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
