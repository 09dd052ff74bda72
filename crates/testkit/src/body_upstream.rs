//! A test exporter that cares about bodies, on 127.0.0.1 (HTTP/1.1): it reads every request
//! body to its end before answering and records it (or how it failed), and it streams long
//! responses whose progress can be watched. [`crate::upstream::TestUpstream`] answers
//! without reading the request body; this one is for uploads, request-body limits and slow
//! readers.
//!
//! * `/slow`: answers after [`BodyUpstream::slow`] (the body is read first);
//! * `/stream/<n>`: `200` with `n` bytes of `x`, produced 64 KiB at a time as the connection
//!   takes them, no `Content-Length`; [`BodyUpstream::streamed`] counts the bytes handed to
//!   the connection so far (what the gateway has pulled, kernel buffers included);
//! * anything else: `200` with `ok`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};

use crate::http1_server::Http1Server;

/// One chunk of a `/stream/<n>` answer.
const CHUNK: usize = 64 * 1024;
static FILL: [u8; CHUNK] = [b'x'; CHUNK];

/// What the upstream saw of one request, body included.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// The request target as received (path and query).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body bytes that arrived.
    pub body: Vec<u8>,
    /// How reading the body failed, when it did (the request is recorded either way).
    pub body_error: Option<String>,
}

struct State {
    slow: Duration,
    recorded: Mutex<Vec<Recorded>>,
    /// Requests whose head arrived (counted before the body is read).
    hits: AtomicUsize,
    streamed: Arc<AtomicU64>,
}

/// A running body-aware upstream; stops accepting when dropped.
pub struct BodyUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Stops accepting when dropped.
    _server: Http1Server,
}

impl std::fmt::Debug for BodyUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BodyUpstream {
    /// Starts an upstream whose `/slow` answers after 3 s.
    pub async fn start() -> Self {
        Self::start_with(Duration::from_secs(3)).await
    }

    /// Starts an upstream whose `/slow` answers after `slow`.
    pub async fn start_with(slow: Duration) -> Self {
        let state = Arc::new(State {
            slow,
            recorded: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            streamed: Arc::new(AtomicU64::new(0)),
        });
        let shared = Arc::clone(&state);
        let server = Http1Server::start(move |req: Request<Incoming>| {
            let state = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(answer(&state, req).await) }
        })
        .await;
        Self {
            addr: server.addr,
            state,
            _server: server,
        }
    }

    /// How long `/slow` waits.
    pub fn slow(&self) -> Duration {
        self.state.slow
    }

    /// `http://127.0.0.1:<port>`, for `--upstream` and route tables.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests whose bodies have been read (or failed), oldest first.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests whose head arrived, counted before their body is read.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Bytes of `/stream/<n>` answers handed to the connections so far, over all requests.
    pub fn streamed(&self) -> u64 {
        self.state.streamed.load(Ordering::SeqCst)
    }
}

async fn answer(state: &State, req: Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, mut body) = req.into_parts();
    let mut bytes = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    bytes.extend_from_slice(d);
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    let path = parts.uri.path().to_owned();
    state
        .recorded
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Recorded {
            method: parts.method,
            path: parts.uri.to_string(),
            headers: parts.headers,
            body: bytes,
            body_error,
        });
    if path == "/slow" {
        tokio::time::sleep(state.slow).await;
    }
    if let Some(n) = path
        .strip_prefix("/stream/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        let body = Stream {
            left: n,
            counter: Arc::clone(&state.streamed),
        };
        return Response::new(body.boxed());
    }
    Response::new(
        http_body_util::Full::new(Bytes::from_static(b"ok"))
            .map_err(|never| match never {})
            .boxed(),
    )
}

/// `left` more bytes of `x`, a chunk at a time, counted as they are taken.
struct Stream {
    left: u64,
    counter: Arc<AtomicU64>,
}

impl Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left).unwrap_or(CHUNK).min(CHUNK);
        self.left -= n as u64;
        self.counter.fetch_add(n as u64, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILL[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}
