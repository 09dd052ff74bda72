//! The upstream side: pooled keep-alive clients (one shared by plain-TCP routes,
//! [`tcp_pool`]; one per route that speaks TLS or uses a unix socket: [`pool`], [`connect`]),
//! header hygiene, deadlines and the single retry of an idempotent request on a connection
//! that turned out to be closed; HA-replica scrape coalescing ([`shared_fetch`]).

mod connect;
mod deferred_write;
mod pool;
pub(crate) mod shared_fetch;
mod tcp_pool;

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use tokio::time::Sleep;

use crate::body::{BoxError, ClientBody, GateBody, RequestBody, wrapper_body};
use crate::routes::{Target, UpstreamPath};

pub use connect::{ConnectError, ConnectKind};
pub use pool::RoutePool;
use tcp_pool::{Lease, TcpPool};

/// Prometheus tells the target how long it will wait for the scrape.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// Tuning of the upstream client.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Deadline for the whole exchange when the request names none.
    pub timeout: Duration,
    /// How long an idle pooled connection is kept (keep it below the exporter's own idle
    /// timeout, so the exporter is not the one closing it).
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per upstream.
    pub pool_max_idle_per_host: usize,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Taken off Prometheus's `X-Prometheus-Scrape-Timeout-Seconds` for the deadline
    /// (`--upstream.timeout-offset`): the rest of the scrape's time is the gateway's.
    pub timeout_offset: Duration,
    /// Peers whose `X-Forwarded-For` is kept and appended to (`--web.trusted-proxies`), as
    /// networks (address, prefix length); see [`UpstreamOptions::parse_cidr`].
    pub trusted_proxies: Vec<(IpAddr, u8)>,
    /// Longest request body forwarded (`--web.max-request-body-bytes`); 413 beyond it.
    pub max_request_body_bytes: u64,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(50),
            // Above the concurrency of busy HTTP/2 scrapers (64 streams in flight is common):
            // a pool smaller than the in-flight count closes and reopens connections nonstop.
            pool_max_idle_per_host: 256,
            connect_timeout: Duration::from_secs(5),
            timeout_offset: Duration::from_millis(500),
            trusted_proxies: Vec::new(),
            max_request_body_bytes: 32 << 20,
        }
    }
}

impl UpstreamOptions {
    /// Parses one network of `--web.trusted-proxies`: `10.0.0.0/8`, `fd00::/8`, or a single
    /// address (`192.0.2.7`, a /32 or /128). A prefix longer than the family allows, or an
    /// address with bits set beyond its prefix (`10.0.0.1/8`: a typo for /32, or for
    /// 10.0.0.0/8?) is refused.
    pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        if mask(addr, prefix) != addr {
            return Err(format!(
                "{s:?} has bits set beyond its /{prefix} prefix (the network is {}/{prefix})",
                mask(addr, prefix)
            ));
        }
        Ok((addr, prefix))
    }
}

/// `addr` with every bit beyond the first `prefix` cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Why the exchange failed; decides between 400, 413, 502 and 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Nothing listening, connection refused, reset before any response: 502.
    Unreachable,
    /// The TLS handshake with an `https://` upstream failed: 502.
    Tls,
    /// The budget (carried) passed before the response headers arrived: 504.
    Timeout(Duration),
    /// The client's request body broke off or was malformed: 400, the client's fault.
    BadRequestBody,
    /// The request body is longer than `--web.max-request-body-bytes`: 413.
    BodyTooLarge,
}

impl UpstreamFailure {
    /// The metrics label: `kind` of `upstream_errors` for the upstream's failures, `reason` of
    /// `client_errors` for the client's.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Tls => "tls",
            Self::Timeout(_) => "timeout",
            Self::BadRequestBody => "bad_body",
            Self::BodyTooLarge => "body_too_large",
        }
    }

    /// True when the client, not the upstream, is at fault.
    pub fn is_client_error(self) -> bool {
        matches!(self, Self::BadRequestBody | Self::BodyTooLarge)
    }
}

/// Who is asking, for basic auth's failure limiter and the `X-Forwarded-*` headers. Built once
/// per connection, so the client's address is formatted once, not on every request.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client's address.
    pub peer: IpAddr,
    /// True when the request came over TLS.
    pub https: bool,
    /// `peer` as a header value.
    peer_value: HeaderValue,
    /// SANs of the client certificate, when one was presented and verified against the
    /// client CA (the verifying modes only: elsewhere anyone can write any SAN).
    pub client_sans: Option<Arc<[String]>>,
}

impl Origin {
    /// The origin of requests from `peer`.
    pub fn new(peer: IpAddr, https: bool) -> Self {
        Self {
            peer,
            https,
            peer_value: HeaderValue::from_str(&peer.to_string())
                .expect("an IP address is a valid header value"),
            client_sans: None,
        }
    }

    /// The same origin with a verified client certificate's SANs.
    pub fn with_client_sans(self, client_sans: Option<Arc<[String]>>) -> Self {
        Self {
            client_sans,
            ..self
        }
    }
}

/// What a successful exchange returns besides the response.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// Time to the response headers.
    pub latency: Duration,
    /// True when the request had to be sent a second time.
    pub retried: bool,
}

/// The pooled client.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Plain-TCP routes' connections.
    tcp: TcpPool,
    default_timeout: Duration,
    timeout_offset: Duration,
    /// `--web.trusted-proxies`, each network masked to its prefix.
    trusted_proxies: Arc<[(IpAddr, u8)]>,
    max_request_body_bytes: u64,
    /// The last scrape-timeout header seen and the budget it gave: Prometheus sends the same
    /// value on every scrape of a job, so the reduced value is formatted once, not per request.
    last_budget: Arc<ArcSwapOption<BudgetEntry>>,
}

/// One scrape-timeout header value and what it came to.
#[derive(Debug)]
struct BudgetEntry {
    sent: HeaderValue,
    budget: Duration,
    forwarded: HeaderValue,
}

/// The budget left when the scrape timeout is at or below the offset: positive, so the
/// request fails fast with a 504 naming it instead of never being bounded.
pub const MIN_BUDGET: Duration = Duration::from_millis(1);

/// Largest read from an upstream connection, and so the largest chunk one response holds in
/// flight at each step (hyper's default is ~400 KiB).
///
/// Backpressure toward a slow client: the response reaches the client connection one read at a
/// time, and hyper stops reading the upstream while the client's write queue is full. With
/// hyper's default (reads growing to ~400 KiB) a stalled reader held ~1 MiB (one read in the
/// write queue, one in the body channel, one in the read buffer); with 16 KiB reads it holds
/// the write queue plus ~32 KiB. It also bounds the upstream's response head, which for an
/// exporter is < 1 KiB.
pub(crate) const UPSTREAM_READ_BUF: usize = 16 * 1024;

impl Upstream {
    /// Builds the client (no connection is opened yet).
    pub fn new(opts: &UpstreamOptions) -> Self {
        Self {
            tcp: TcpPool::new(
                opts.pool_idle_timeout,
                opts.pool_max_idle_per_host,
                opts.connect_timeout,
            ),
            default_timeout: opts.timeout,
            timeout_offset: opts.timeout_offset,
            trusted_proxies: opts.trusted_proxies.iter().copied().collect(),
            max_request_body_bytes: opts.max_request_body_bytes,
            last_budget: Arc::default(),
        }
    }

    /// The deadline of a request, and the scrape-timeout header to send upstream: with no
    /// header, `--upstream.timeout` and none; with one, `min(header − offset,
    /// --upstream.timeout)` (at least [`MIN_BUDGET`]; `--upstream.timeout` when the value is
    /// not a positive number) and that budget in the header, so the exporter plans for the
    /// time it really has.
    pub fn deadline_for(&self, headers: &HeaderMap) -> (Duration, Option<HeaderValue>) {
        let Some(sent) = headers.get(SCRAPE_TIMEOUT_HEADER) else {
            return (self.default_timeout, None);
        };
        if let Some(hit) = &*self.last_budget.load()
            && hit.sent == sent
        {
            return (hit.budget, Some(hit.forwarded.clone()));
        }
        let budget = self.budget(sent);
        let forwarded = HeaderValue::from_maybe_shared(Bytes::from(seconds(budget)))
            .expect("a decimal number is a valid header value");
        self.last_budget.store(Some(Arc::new(BudgetEntry {
            sent: sent.clone(),
            budget,
            forwarded: forwarded.clone(),
        })));
        (budget, Some(forwarded))
    }

    fn budget(&self, sent: &HeaderValue) -> Duration {
        let Some(secs) = sent
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        else {
            return self.default_timeout;
        };
        let left = secs - self.timeout_offset.as_secs_f64();
        if left >= self.default_timeout.as_secs_f64() {
            return self.default_timeout;
        }
        // Whole milliseconds: what the header says is what the deadline is. `left` is below
        // the flag's timeout here, so the conversion cannot overflow.
        Duration::from_millis((left * 1000.0).floor().max(0.0) as u64).max(MIN_BUDGET)
    }

    /// True when `peer` is in `--web.trusted-proxies`.
    fn trusts(&self, peer: IpAddr) -> bool {
        if self.trusted_proxies.is_empty() {
            return false;
        }
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        self.trusted_proxies
            .iter()
            .any(|&(net, prefix)| net.is_ipv4() == peer.is_ipv4() && mask(peer, prefix) == net)
    }

    /// Sends `req` to `target` at `path`, streaming both bodies. The whole exchange up to the
    /// response headers (the upload included) is bounded by the budget, and so is the
    /// streamed response body. A request body longer than `--web.max-request-body-bytes` is
    /// refused before the upstream is contacted when its length is declared, and cut where it
    /// crosses the limit when it is not.
    ///
    /// `pool` is the route's own pool (TLS or unix socket); `None` sends over the shared
    /// plain-TCP pool.
    pub async fn forward<B: RequestBody>(
        &self,
        req: Request<B>,
        target: &Target,
        pool: Option<&RoutePool>,
        upstream_path: &UpstreamPath,
        origin: &Origin,
    ) -> Result<(Response<GateBody>, Exchange), UpstreamFailure> {
        if req.body().size_hint().lower() > self.max_request_body_bytes {
            return Err(UpstreamFailure::BodyTooLarge);
        }
        let (timeout, forwarded_budget) = self.deadline_for(req.headers());
        let started = tokio::time::Instant::now();
        // One timer serves the exchange and then the response body: a second registration
        // per request would only repeat the same deadline.
        let mut deadline = Box::pin(tokio::time::sleep_until(started + timeout));
        let (mut parts, body) = req.into_parts();
        // The shared plain-TCP pool speaks to the upstream directly (origin form); a route's own
        // pool goes through hyper-util's client, which wants the absolute form.
        let uri = upstream_uri(target, upstream_path, &parts.uri, pool.is_some())?;
        let trusted = self.trusts(origin.peer);
        prepare_request_headers(&mut parts.headers, &parts.uri, origin, trusted);
        if let Some(v) = forwarded_budget {
            parts.headers.insert(SCRAPE_TIMEOUT_HEADER, v);
        }
        // Set here, the client's own Host logic (which formats host:port each time) is skipped.
        parts
            .headers
            .insert(header::HOST, target.host_header.clone());
        parts.uri = uri;
        parts.version = Version::HTTP_11;

        // GET and HEAD with no body can be rebuilt and sent twice; everything else streams once.
        let replayable = matches!(parts.method, Method::GET | Method::HEAD) && body.is_end_stream();
        let mut fault = None;
        let exchange = async {
            if replayable {
                let first = self
                    .send(pool, &target.authority, rebuild(&parts, empty()))
                    .await;
                match first {
                    Ok(resp) => Ok((resp, false)),
                    Err(SendError::Connect(failure)) => Err(failure),
                    Err(SendError::Exchange(_)) => {
                        tracing::debug!("upstream exchange failed, retrying once");
                        self.send(pool, &target.authority, rebuild(&parts, empty()))
                            .await
                            .map(|r| (r, true))
                            .map_err(SendError::failure)
                    }
                }
            } else {
                if !body.is_end_stream()
                    && body.size_hint().exact().is_none()
                    && !parts.headers.contains_key(header::CONTENT_LENGTH)
                {
                    // The client library sends a GET, HEAD or CONNECT body of unknown length
                    // as no body at all unless told to chunk it; for other methods this is
                    // what it would do anyway.
                    parts.headers.insert(
                        header::TRANSFER_ENCODING,
                        HeaderValue::from_static("chunked"),
                    );
                }
                let (body, watch) = ClientBody::new(body, self.max_request_body_bytes);
                fault = Some(watch);
                let req = Request::from_parts(parts, body.boxed());
                self.send(pool, &target.authority, req)
                    .await
                    .map(|r| (r, false))
                    .map_err(SendError::failure)
            }
        };
        let result = tokio::select! {
            biased;
            r = exchange => r,
            () = deadline.as_mut() => Err(UpstreamFailure::Timeout(timeout)),
        };
        let (resp, retried) = match result {
            Ok(r) => r,
            // A broken upload makes the exchange fail too; it is the client's doing.
            Err(e @ (UpstreamFailure::Unreachable | UpstreamFailure::Tls)) => {
                return Err(fault.and_then(|f| f.fault()).unwrap_or(e));
            }
            Err(e) => return Err(e),
        };
        let latency = started.elapsed();
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        let body = DeadlineBody {
            inner: rbody,
            sleep: deadline,
        };
        Ok((
            Response::from_parts(rparts, body.boxed()),
            Exchange { latency, retried },
        ))
    }
}

/// Why sending a request failed.
#[derive(Debug)]
enum SendError {
    /// No connection could be had (nothing listening, the TLS handshake failed): retrying
    /// would only fail again.
    Connect(UpstreamFailure),
    /// The connection failed during the exchange (closed under the request, reset): an
    /// idempotent request is worth one more try.
    Exchange(UpstreamFailure),
}

impl SendError {
    fn failure(self) -> UpstreamFailure {
        match self {
            Self::Connect(f) | Self::Exchange(f) => f,
        }
    }
}

impl Upstream {
    /// Sends over the route's own pool, or the shared plain-TCP one. The response body gives
    /// a shared-pool connection back when it ends.
    async fn send(
        &self,
        pool: Option<&RoutePool>,
        authority: &http::uri::Authority,
        req: Request<GateBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        if let Some(pool) = pool {
            return match pool.request(req).await {
                Ok(resp) => Ok(resp.map(|inner| UpstreamBody { inner, lease: None })),
                Err(e) if e.is_connect() => Err(SendError::Connect(connect_failure(&e))),
                Err(e) => {
                    tracing::debug!(error = %e, "upstream exchange failed");
                    Err(SendError::Exchange(connect_failure(&e)))
                }
            };
        }
        // A connection that carried a request body is not reused: the upstream may answer
        // before the upload ends, and the next request would then wait for the rest of it.
        let reusable = http_body::Body::is_end_stream(req.body());
        let mut lease = self
            .tcp
            .lease(authority)
            .await
            .map_err(SendError::Connect)?;
        match lease.sender().send_request(req).await {
            Ok(resp) => Ok(resp.map(|inner| UpstreamBody {
                inner,
                lease: reusable.then_some(lease),
            })),
            Err(e) => {
                tracing::debug!(error = %e, "upstream exchange failed");
                Err(SendError::Exchange(UpstreamFailure::Unreachable))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An upstream response body; a shared-pool connection goes back to the pool when the body
    /// has been read to its end, and closes when the body is dropped before.
    struct UpstreamBody {
        #[pin]
        inner: Incoming,
        lease: Option<Lease>,
    }

    impl PinnedDrop for UpstreamBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A body that never had to be read (HEAD, 204, an empty one) has ended all the same.
            if http_body::Body::is_end_stream(&*this.inner)
                && let Some(lease) = this.lease.take()
            {
                lease.release();
            }
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(lease) = this.lease.take()
        {
            lease.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The failure a client error stands for: a TLS connection that failed is `Tls` (at the
/// handshake, or after it: see [`connect::TlsFailure`]), everything else (refused, reset, no
/// socket) `Unreachable`. The connector logged the reason.
fn connect_failure(e: &hyper_util::client::legacy::Error) -> UpstreamFailure {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            return match connect.kind {
                ConnectKind::Tls => UpstreamFailure::Tls,
                ConnectKind::Unreachable => UpstreamFailure::Unreachable,
            };
        }
        source = err.source();
    }
    if let Some(info) = e.connect_info() {
        let mut extras = http::Extensions::new();
        info.get_extras(&mut extras);
        if extras
            .get::<connect::TlsFailure>()
            .is_some_and(|f| f.reason().is_some())
        {
            return UpstreamFailure::Tls;
        }
    }
    UpstreamFailure::Unreachable
}

/// `d` in seconds with at most three decimals, as Prometheus writes the scrape timeout
/// (`10`, `9.5`, `0.001`).
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:03}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn empty() -> GateBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

fn rebuild(parts: &http::request::Parts, body: GateBody) -> Request<GateBody> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

/// The upstream URI: the request's own path and query unless the route rewrote the path, in
/// origin form, or with the route's scheme and authority when `absolute`.
fn upstream_uri(
    target: &Target,
    path: &UpstreamPath,
    requested: &Uri,
    absolute: bool,
) -> Result<Uri, UpstreamFailure> {
    let pq = match path {
        // Shares the request's bytes: no copy on the common path.
        UpstreamPath::AsRequested => requested
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
        UpstreamPath::Rewritten(p) => {
            let pq = match requested.query() {
                Some(q) => format!("{p}?{q}"),
                None => p.clone(),
            };
            PathAndQuery::try_from(pq).map_err(|_| UpstreamFailure::Unreachable)?
        }
    };
    if !absolute {
        return Ok(Uri::from(pq));
    }
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|_| UpstreamFailure::Unreachable)
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Headers that describe one hop and never travel further (RFC 9110 §7.6.1), plus
/// `Transfer-Encoding`, which each side's HTTP stack sets for its own hop.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    // Standard names compare as enum tags; only the two non-standard ones compare bytes.
    name == header::CONNECTION
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::TRANSFER_ENCODING
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names decides: most requests carry none of these, and a response
    // usually carries only `Connection: keep-alive`.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            // `close` and `keep-alive` are options, not header names; skipping them spares
            // parsing (and allocating) a name that is gone anyway or was never there.
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                doomed.push(name);
            }
        }
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// Header hygiene for the request going upstream: no hop-by-hop headers, no credentials, none
/// of the client's `Forwarded`/`X-Real-IP`, and `X-Forwarded-For/-Proto/-Host` describing the
/// client (`X-Forwarded-For` extends the client's own only when `trusted_peer`).
pub fn prepare_request_headers(
    headers: &mut HeaderMap,
    original_uri: &Uri,
    origin: &Origin,
    trusted_peer: bool,
) {
    strip_hop_by_hop(headers);
    // The credentials were for the gateway; the exporter must never see them.
    headers.remove(header::AUTHORIZATION);
    // What a client says about where a request came from is not believed: these would reach
    // the exporter as if the gateway had vouched for them. (`remove` of an absent name only
    // looks it up: nothing is allocated when there is nothing to strip.)
    headers.remove(header::FORWARDED);
    headers.remove(X_REAL_IP);
    let host = headers.remove(header::HOST).or_else(|| {
        original_uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    // A trusted proxy's chain is kept and the proxy appended (nginx's
    // `$proxy_add_x_forwarded_for`); anyone else's is replaced by the peer alone.
    let chained = if trusted_peer {
        chain_forwarded_for(headers, origin)
    } else {
        None
    };
    headers.insert(
        X_FORWARDED_FOR,
        chained.unwrap_or_else(|| origin.peer_value.clone()),
    );
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if origin.https { "https" } else { "http" }),
    );
    match host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST, h);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// Every `X-Forwarded-For` value of `headers`, in order, then the peer; `None` when there is
/// no (readable) value to keep.
fn chain_forwarded_for(headers: &HeaderMap, origin: &Origin) -> Option<HeaderValue> {
    let mut chain = String::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(value) = value.to_str() else { continue };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(value);
    }
    if chain.is_empty() {
        return None;
    }
    chain.push_str(", ");
    chain.push_str(origin.peer_value.to_str().ok()?);
    HeaderValue::from_str(&chain).ok()
}

pin_project_lite::pin_project! {
    /// A response body that fails once the exchange's deadline passes, so a stalled upstream
    /// cannot hold a client (and a connection slot) forever.
    struct DeadlineBody {
        #[pin]
        inner: UpstreamBody,
        sleep: Pin<Box<Sleep>>,
    }
}

wrapper_body!(impl[] DeadlineBody, |this, cx| {
        match this.inner.poll_frame(cx) {
            Poll::Ready(f) => Poll::Ready(f.map(|r| r.map_err(BoxError::from))),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BoxError::from(
                    "upstream body exceeded the scrape deadline",
                )))),
                Poll::Pending => Poll::Pending,
            },
        }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_cleaned_and_forwarded_headers_added() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        h.insert(header::HOST, HeaderValue::from_static("gw.example:9443"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert("x-real-ip", HeaderValue::from_static("10.0.0.1"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=10.0.0.1"));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        let origin = Origin::new("127.0.0.1".parse().unwrap(), true);
        let mut trusted = h.clone();
        prepare_request_headers(&mut h, &Uri::from_static("/metrics"), &origin, false);
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert!(h.get(header::HOST).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-secret").is_none());
        assert!(h.get("x-real-ip").is_none());
        assert!(h.get(header::FORWARDED).is_none());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gw.example:9443");
        assert_eq!(h[header::ACCEPT], "text/plain");
        prepare_request_headers(&mut trusted, &Uri::from_static("/metrics"), &origin, true);
        assert_eq!(trusted["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert!(trusted.get("x-real-ip").is_none());
    }

    fn budget(up: &Upstream, value: &'static str) -> (Duration, Option<HeaderValue>) {
        let mut h = HeaderMap::new();
        h.insert(SCRAPE_TIMEOUT_HEADER, HeaderValue::from_static(value));
        up.deadline_for(&h)
    }

    #[test]
    fn scrape_timeout_header_is_a_budget_below_the_flag() {
        let up = Upstream::new(&UpstreamOptions::default());
        assert_eq!(
            up.deadline_for(&HeaderMap::new()),
            (Duration::from_secs(30), None)
        );
        let cases = [
            ("10", 9_500, "9.5"),
            ("10", 9_500, "9.5"), // from the cache
            ("1.25", 750, "0.75"),
            ("86400", 30_000, "30"),
            ("30.5", 30_000, "30"),
            ("0.5", 1, "0.001"),
            ("0.2", 1, "0.001"),
            ("0.5011", 1, "0.001"),
            ("-1", 30_000, "30"),
            ("0", 30_000, "30"),
            ("NaN", 30_000, "30"),
            ("inf", 30_000, "30"),
            ("1e400", 30_000, "30"),
            ("abc", 30_000, "30"),
            (" 2 ", 1_500, "1.5"),
        ];
        for (sent, ms, forwarded) in cases {
            let (d, v) = budget(&up, sent);
            assert_eq!(d, Duration::from_millis(ms), "{sent:?}");
            assert_eq!(v.unwrap(), forwarded, "{sent:?}");
        }
    }

    #[test]
    fn trusted_proxies_match_by_prefix() {
        let opts = UpstreamOptions {
            trusted_proxies: ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]
                .into_iter()
                .map(|c| UpstreamOptions::parse_cidr(c).unwrap())
                .collect(),
            ..UpstreamOptions::default()
        };
        let up = Upstream::new(&opts);
        for (peer, trusted) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("::ffff:10.9.9.9", true),
            ("fd12::1", true),
            ("fe80::1", false),
        ] {
            assert_eq!(up.trusts(peer.parse().unwrap()), trusted, "{peer}");
        }
        assert!(!Upstream::new(&UpstreamOptions::default()).trusts("10.0.0.1".parse().unwrap()));
        assert_eq!(
            UpstreamOptions::parse_cidr("0.0.0.0/0"),
            Ok(("0.0.0.0".parse().unwrap(), 0))
        );
    }
}
