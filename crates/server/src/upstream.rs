//! The upstream side: a pooled keep-alive HTTP/1.1 client, header hygiene, deadlines and the
//! single retry of an idempotent request on a connection that turned out to be closed.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

use crate::body::{BoxError, GateBody};
use crate::routes::Target;

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
            pool_max_idle_per_host: 32,
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

/// Who is asking, for the `X-Forwarded-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub peer: IpAddr,
    pub https: bool,
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
    pub async fn forward<B>(
        &self,
        req: Request<B>,
        target: &Target,
        upstream_path: &str,
        origin: Origin,
    ) -> Result<(Response<GateBody>, Exchange), UpstreamFailure>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let timeout = self.deadline_for(req.headers());
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let (mut parts, body) = req.into_parts();
        let uri = upstream_uri(target, upstream_path, parts.uri.query())?;
        prepare_request_headers(&mut parts.headers, &parts.uri, origin);
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
        let (resp, retried) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| UpstreamFailure::Timeout)??;
        let latency = started.elapsed();
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        let body = DeadlineBody {
            inner: rbody,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
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

fn upstream_uri(target: &Target, path: &str, query: Option<&str>) -> Result<Uri, UpstreamFailure> {
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let pq: PathAndQuery = pq.parse().map_err(|_| UpstreamFailure::Unreachable)?;
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|_| UpstreamFailure::Unreachable)
}

/// Headers that describe one hop and never travel further (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// Header hygiene for the request going upstream: no hop-by-hop headers, no credentials, the
/// upstream's own Host, and `X-Forwarded-For/-Proto/-Host` describing the client.
pub fn prepare_request_headers(headers: &mut HeaderMap, original_uri: &Uri, origin: Origin) {
    strip_hop_by_hop(headers);
    // The credentials were for the gateway; the exporter must never see them.
    headers.remove(header::AUTHORIZATION);
    let host = headers.remove(header::HOST).or_else(|| {
        original_uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let peer = origin.peer.to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {peer}"),
        _ => peer,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if origin.https { "https" } else { "http" }),
    );
    match host {
        Some(h) => {
            headers.insert("x-forwarded-host", h);
        }
        None => {
            headers.remove("x-forwarded-host");
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

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
        let origin = Origin {
            peer: "127.0.0.1".parse().unwrap(),
            https: true,
        };
        prepare_request_headers(&mut h, &Uri::from_static("/metrics"), origin);
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
