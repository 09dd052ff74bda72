//! A real hyper HTTP/1.1 server on 127.0.0.1 standing in for an exporter behind the gateway.
//! It records every request it sees and answers:
//!
//! * `/slow` after [`UpstreamOptions::slow`];
//! * `/big` with [`big_body`] ([`BIG_LEN`] bytes of a position-dependent pattern);
//! * anything else with [`UpstreamOptions::body`] at once, or with
//!   [`AUTHORIZATION_LEAKED`] when [`UpstreamOptions::flag_authorization`] is on and the
//!   request carries an `Authorization` header.
//!
//! Every answer carries `x-upstream-path: <request target>` and `x-frame-options: sameorigin`
//! (which configured headers must replace).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::http1_server::Http1Server;

/// The body answered instead of the normal one when an `Authorization` header reached the
/// upstream (with [`UpstreamOptions::flag_authorization`]).
pub const AUTHORIZATION_LEAKED: &str = "AUTHORIZATION LEAKED";

/// Length of [`big_body`]: many TLS records and HTTP/2 DATA frames, more than a flow-control
/// window.
pub const BIG_LEN: usize = 1 << 20;

/// The body `/big` answers with: [`BIG_LEN`] bytes of a repeating, position-dependent pattern,
/// so a reordered, dropped or duplicated chunk shows.
pub fn big_body() -> Bytes {
    (0..BIG_LEN)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// How the upstream answers.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// The body of every ordinary answer.
    pub body: Bytes,
    /// How long `/slow` waits before answering.
    pub slow: Duration,
    /// Answer [`AUTHORIZATION_LEAKED`] to requests carrying `Authorization`.
    pub flag_authorization: bool,
}

impl Default for UpstreamOptions {
    /// `Hello World!`, `/slow` after 3 s, no leak marker.
    fn default() -> Self {
        Self {
            body: Bytes::from_static(b"Hello World!"),
            slow: Duration::from_secs(3),
            flag_authorization: false,
        }
    }
}

impl UpstreamOptions {
    /// The demo exporter's answer (`demo_metric 1\n`), `/slow` after 2 s, and the leak
    /// marker on: what the binary's end-to-end tests expect.
    pub fn demo() -> Self {
        Self {
            body: Bytes::from_static(b"demo_metric 1\n"),
            slow: Duration::from_secs(2),
            flag_authorization: true,
        }
    }
}

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// The request target as received (path and query).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
}

/// A running test upstream; stops accepting when dropped.
pub struct TestUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) hits: Arc<AtomicUsize>,
    server: Http1Server,
}

impl std::fmt::Debug for TestUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestUpstream {
    /// Starts an upstream with the default options (`Hello World!`).
    pub async fn start() -> Self {
        Self::start_with(UpstreamOptions::default()).await
    }

    /// Starts an upstream answering as the demo exporter does ([`UpstreamOptions::demo`]):
    /// what the binary's end-to-end tests run behind the gateway.
    pub async fn demo() -> Self {
        Self::start_with(UpstreamOptions::demo()).await
    }

    /// Starts an upstream answering as `opts` says.
    pub async fn start_with(opts: UpstreamOptions) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Arc::new((opts, Arc::clone(&seen), Arc::clone(&hits)));
        let server = Http1Server::start(move |req: Request<Incoming>| {
            let state = Arc::clone(&state);
            async move {
                let (opts, seen, hits) = &*state;
                Ok::<_, Infallible>(answer(opts, seen, hits, req).await)
            }
        })
        .await;
        Self {
            addr: server.addr,
            seen,
            hits,
            server,
        }
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// How many of them are still open (a connection counts as closed once its peer closed it
    /// and the upstream has noticed).
    pub fn open_connections(&self) -> usize {
        self.server.open_connections()
    }

    /// `http://127.0.0.1:<port>`, for `--upstream` and route tables.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests seen so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many requests arrived (counted when they arrive, before `/slow` waits).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// What the upstreams of this kit answer (see the module doc); shared with
/// [`crate::tls_upstream`].
pub(crate) async fn answer(
    opts: &UpstreamOptions,
    seen: &Mutex<Vec<Seen>>,
    hits: &AtomicUsize,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let target = req.uri().to_string();
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
        method: req.method().clone(),
        path: target.clone(),
        headers: req.headers().clone(),
    });
    hits.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path();
    if path == "/slow" {
        tokio::time::sleep(opts.slow).await;
    }
    let body = if path == "/big" {
        big_body()
    } else if opts.flag_authorization && req.headers().contains_key(http::header::AUTHORIZATION) {
        Bytes::from_static(AUTHORIZATION_LEAKED.as_bytes())
    } else {
        opts.body.clone()
    };
    let mut resp = Response::new(Full::new(body));
    if let Ok(value) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert("x-upstream-path", value);
    }
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("sameorigin"));
    resp
}
