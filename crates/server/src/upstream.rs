//! The upstream side: a pooled keep-alive HTTP/1.1 client, header hygiene, deadlines and the
//! single retry of an idempotent request on a connection that turned out to be closed.

use std::net::IpAddr;
use std::sync::Arc;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri, Version};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

use crate::body::{BoxError, GateBody, RequestBody, forward_body_hints};
use crate::routes::{Target, UpstreamPath};

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
        }
    }
}

/// Why the upstream exchange failed; decides between 502 and 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Nothing listening, connection refused, reset before any response: 502.
    Unreachable,
    /// The deadline passed before the response headers arrived: 504.
    Timeout,
}

impl UpstreamFailure {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
        }
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
    client: Client<HttpConnector, GateBody>,
    default_timeout: Duration,
}

impl Upstream {
    /// Builds the client (no connection is opened yet).
    pub fn new(opts: &UpstreamOptions) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(opts.connect_timeout));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_max_idle_per_host(opts.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Self {
            client,
            default_timeout: opts.timeout,
        }
    }

    /// The deadline for a request: Prometheus's scrape timeout when it sent one, else the
    /// configured upstream timeout.
    pub fn deadline_for(&self, headers: &HeaderMap) -> Duration {
        headers
            .get(SCRAPE_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            // A day is far beyond any scrape; anything larger is nonsense, not a deadline.
            .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
            .unwrap_or(self.default_timeout)
    }

    /// Sends `req` to `target` at `path`, streaming both bodies. The whole exchange up to the
    /// response headers is bounded by the deadline, and so is the streamed response body.
    pub async fn forward<B: RequestBody>(
        &self,
        req: Request<B>,
        target: &Target,
        upstream_path: &UpstreamPath,
        origin: &Origin,
    ) -> Result<(Response<GateBody>, Exchange), UpstreamFailure> {
        let timeout = self.deadline_for(req.headers());
        let started = tokio::time::Instant::now();
        // One timer serves the exchange and then the response body: a second registration
        // per request would only repeat the same deadline.
        let mut deadline = Box::pin(tokio::time::sleep_until(started + timeout));
        let (mut parts, body) = req.into_parts();
        let uri = upstream_uri(target, upstream_path, &parts.uri)?;
        prepare_request_headers(&mut parts.headers, &parts.uri, origin);
        // Set here, the client's own Host logic (which formats host:port each time) is skipped.
        parts
            .headers
            .insert(header::HOST, target.host_header.clone());
        parts.uri = uri;
        parts.version = Version::HTTP_11;

        // GET and HEAD with no body can be rebuilt and sent twice; everything else streams once.
        let replayable = matches!(parts.method, Method::GET | Method::HEAD) && body.is_end_stream();
        let exchange = async {
            if replayable {
                let first = self.client.request(rebuild(&parts, empty())).await;
                match first {
                    Ok(resp) => Ok((resp, false)),
                    Err(e) if e.is_connect() => Err(UpstreamFailure::Unreachable),
                    Err(e) => {
                        tracing::debug!(error = %e, "upstream exchange failed, retrying once");
                        self.client
                            .request(rebuild(&parts, empty()))
                            .await
                            .map(|r| (r, true))
                            .map_err(|_| UpstreamFailure::Unreachable)
                    }
                }
            } else {
                let req = Request::from_parts(parts, body.map_err(Into::into).boxed());
                self.client
                    .request(req)
                    .await
                    .map(|r| (r, false))
                    .map_err(|_| UpstreamFailure::Unreachable)
            }
        };
        let (resp, retried) = tokio::select! {
            biased;
            r = exchange => r?,
            () = deadline.as_mut() => return Err(UpstreamFailure::Timeout),
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

/// The upstream URI: the route's scheme and authority, and the request's own path and query
/// unless the route rewrote the path.
fn upstream_uri(
    target: &Target,
    path: &UpstreamPath,
    requested: &Uri,
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

/// Header hygiene for the request going upstream: no hop-by-hop headers, no credentials, the
/// upstream's own Host, and `X-Forwarded-For/-Proto/-Host` describing the client.
pub fn prepare_request_headers(headers: &mut HeaderMap, original_uri: &Uri, origin: &Origin) {
    strip_hop_by_hop(headers);
    // The credentials were for the gateway; the exporter must never see them.
    headers.remove(header::AUTHORIZATION);
    let host = headers.remove(header::HOST).or_else(|| {
        original_uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let chained = headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|prev| !prev.trim().is_empty())
        .and_then(|prev| {
            let peer = origin.peer_value.to_str().ok()?;
            HeaderValue::from_str(&format!("{prev}, {peer}")).ok()
        });
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

pin_project_lite::pin_project! {
    /// A response body that fails once the exchange's deadline passes, so a stalled upstream
    /// cannot hold a client (and a connection slot) forever.
    struct DeadlineBody {
        #[pin]
        inner: Incoming,
        sleep: Pin<Box<Sleep>>,
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(f) => Poll::Ready(f.map(|r| r.map_err(BoxError::from))),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BoxError::from(
                    "upstream body exceeded the scrape deadline",
                )))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    forward_body_hints!(inner);
}

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
        h.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        let origin = Origin::new("127.0.0.1".parse().unwrap(), true);
        prepare_request_headers(&mut h, &Uri::from_static("/metrics"), &origin);
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert!(h.get(header::HOST).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-secret").is_none());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gw.example:9443");
        assert_eq!(h[header::ACCEPT], "text/plain");
    }

    #[test]
    fn scrape_timeout_header_sets_the_deadline() {
        let up = Upstream::new(&UpstreamOptions::default());
        let mut h = HeaderMap::new();
        assert_eq!(up.deadline_for(&h), Duration::from_secs(30));
        h.insert(SCRAPE_TIMEOUT_HEADER, HeaderValue::from_static("0.5"));
        assert_eq!(up.deadline_for(&h), Duration::from_millis(500));
        for junk in ["-1", "0", "NaN", "inf", "abc"] {
            h.insert(SCRAPE_TIMEOUT_HEADER, HeaderValue::from_static(junk));
            assert_eq!(up.deadline_for(&h), Duration::from_secs(30), "{junk}");
        }
    }
}
