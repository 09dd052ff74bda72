//! A test exporter whose answers wait behind a gate the test opens, on 127.0.0.1 (HTTP/1.1):
//! for coalescing tests, where requests must be in flight together before the upstream
//! answers, with no sleeps. Every request is counted and recorded the moment its head arrives;
//! then it waits until [`GatedUpstream::release`] (the gate stays open until
//! [`GatedUpstream::hold`] closes it again).
//!
//! * `/big/<n>`: `200` with `n` bytes of [`big_pattern`], produced 64 KiB at a time as the
//!   connection takes them, no `Content-Length`; [`GatedUpstream::streamed`] counts the bytes
//!   handed to the connection so far;
//! * `/reset`: the connection is closed without an answer (a reset before the head);
//! * anything else: `200` with [`numbered_body`] of the request's arrival number (1, 2, ...),
//!   so two requests that each reached the upstream never get the same body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::watch;

use crate::http1_server::Http1Server;
use crate::upstream::Seen;

/// One chunk of a `/big/<n>` answer.
const CHUNK: usize = 64 * 1024;

/// Byte `i` of a `/big/<n>` answer: printable, and position-dependent, so a dropped,
/// duplicated or reordered chunk shows.
pub fn big_pattern(i: u64) -> u8 {
    b'a' + ((i / 7 + i / CHUNK as u64) % 26) as u8
}

/// The first `n` bytes of [`big_pattern`], as the test expects them.
pub fn big_body(n: u64) -> Vec<u8> {
    (0..n).map(big_pattern).collect()
}

/// The ordinary answer to the request that arrived `n`th: a small exposition naming `n`.
pub fn numbered_body(n: usize) -> String {
    let mut body = format!(
        "# HELP upstream_request Which request this answer was for.\nupstream_request {n}\n"
    );
    for i in 0..64 {
        body.push_str(&format!("upstream_series{{i=\"{i}\"}} {i}\n"));
    }
    body
}

struct State {
    seen: Mutex<Vec<Seen>>,
    hits: AtomicUsize,
    streamed: AtomicU64,
    open: watch::Sender<bool>,
}

/// A running gated upstream; stops accepting when dropped.
pub struct GatedUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Stops accepting when dropped.
    _server: Http1Server,
}

impl std::fmt::Debug for GatedUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl GatedUpstream {
    /// Starts an upstream whose gate is closed: every answer waits for [`Self::release`].
    pub async fn start() -> Self {
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            streamed: AtomicU64::new(0),
            open: watch::Sender::new(false),
        });
        let shared = Arc::clone(&state);
        let server = Http1Server::start(move |req: Request<Incoming>| {
            let state = Arc::clone(&shared);
            async move { answer(&state, req).await }
        })
        .await;
        Self {
            addr: server.addr,
            state,
            _server: server,
        }
    }

    /// `http://127.0.0.1:<port>`, for `--upstream` and route tables.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Opens the gate: waiting requests are answered, and so are new ones at once.
    pub fn release(&self) {
        self.state.open.send_replace(true);
    }

    /// Closes the gate again: new requests wait for the next [`Self::release`].
    pub fn hold(&self) {
        self.state.open.send_replace(false);
    }

    /// Requests whose head arrived (counted before they wait at the gate).
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The requests seen so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Bytes of `/big/<n>` answers handed to the connections so far, over all requests.
    pub fn streamed(&self) -> u64 {
        self.state.streamed.load(Ordering::SeqCst)
    }
}

/// The error that makes hyper close the connection without an answer (`/reset`).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset before the response head (test)")
    }
}

impl std::error::Error for Reset {}

async fn answer(
    state: &Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Reset> {
    let n = {
        let mut seen = state.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.push(Seen {
            method: req.method().clone(),
            path: req.uri().to_string(),
            headers: req.headers().clone(),
        });
        state.hits.fetch_add(1, Ordering::SeqCst) + 1
    };
    let mut open = state.open.subscribe();
    // The sender lives in `state`, which outlives this request: the wait ends only when the
    // gate opens.
    let _ = open.wait_for(|open| *open).await;
    let path = req.uri().path();
    if path == "/reset" {
        return Err(Reset);
    }
    if let Some(len) = path
        .strip_prefix("/big/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        let body = Stream {
            at: 0,
            len,
            state: Arc::clone(state),
        };
        return Ok(Response::new(body.boxed()));
    }
    Ok(Response::new(
        http_body_util::Full::new(Bytes::from(numbered_body(n)))
            .map_err(|never| match never {})
            .boxed(),
    ))
}

/// The rest of a `/big/<n>` answer, a chunk at a time, counted as it is taken.
struct Stream {
    at: u64,
    len: u64,
    state: Arc<State>,
}

impl Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let left = self.len - self.at;
        if left == 0 {
            return Poll::Ready(None);
        }
        let n = left.min(CHUNK as u64);
        let chunk: Vec<u8> = (self.at..self.at + n).map(big_pattern).collect();
        self.at += n;
        self.state.streamed.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.at == self.len
    }
}
