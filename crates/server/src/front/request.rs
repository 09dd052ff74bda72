//! One request on a served connection: hands it to the listener's app and marks it in flight
//! for the connection's idle clock until hyper has sent (or dropped) the response body.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Poll, ready};

use std::borrow::Cow;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::access_log::AccessLine;
use super::clock::{ConnClock, InflightGuard, WriteWindow};
use crate::apps::App;
use crate::body::{self, GateBody, wrapper_body};
use crate::gate::trace::{AuthResult, Trace};
use crate::path::{self, ClimbsAboveRoot};
use crate::telemetry::{Metrics, labels};
use crate::upstream::Origin;

/// What the front end knows about the connection a request came on.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub(crate) origin: Origin,
    pub(crate) clock: Arc<ConnClock>,
    /// `--log.access`.
    pub(crate) access_log: bool,
    /// For the requests the front end answers itself (a path climbing above `/`).
    pub(crate) metrics: Arc<Metrics>,
}

/// What an HTTP/1 response body may hand hyper beyond what the stream has taken (see
/// [`WriteWindow`]): with one upstream read (`upstream::UPSTREAM_READ_BUF`, 16 KiB) crossing
/// it, hyper holds at most 32 KiB of a response toward a client that stops reading, whatever
/// `--web.max-header-bytes` makes its buffer limit.
const H1_WRITE_WINDOW: u64 = 16 * 1024;

/// Serves one request with `app`; with the access log on, its line goes with the body.
pub(crate) async fn serve<A: App>(
    app: Arc<A>,
    conn: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<GuardedBody>, Infallible> {
    let guard = conn.clock.request_started();
    let origin = &conn.origin;
    let mut line = conn.access_log.then(|| {
        Box::new(AccessLine::start(
            &req,
            origin.peer,
            A::NAME,
            origin.client_sans.clone(),
        ))
    });
    let mut trace = Trace {
        wants_identity: line.is_some(),
        ..Trace::default()
    };
    let http1 = req.version() < http::Version::HTTP_2;
    let mut resp = match with_normalised_path(req) {
        Ok(req) => app.call(req, origin, &mut trace).await,
        Err(ClimbsAboveRoot) => {
            conn.metrics.count_response(400, &labels::UNROUTED);
            body::text(StatusCode::BAD_REQUEST, "Bad Request\n")
        }
    };
    if matches!(trace.result, AuthResult::Ok | AuthResult::Anonymous)
        && resp.status() != StatusCode::BAD_REQUEST
    {
        conn.clock.mark_authenticated();
    } else if http1 && is_refusal(resp.status()) {
        // A refused client gives its connection slot back at once instead of holding it for
        // the idle timeout (Prometheus opens a new connection for its next scrape anyway).
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    if let Some(line) = line.as_mut() {
        line.record(trace, resp.status().as_u16());
    }
    let window = http1.then(|| guard.write_window(H1_WRITE_WINDOW));
    Ok(resp.map(|inner| GuardedBody {
        inner,
        line,
        window,
        _guard: guard,
    }))
}

/// 401, 403 and 429: answers after which an HTTP/1 connection is closed.
fn is_refusal(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    )
}

/// `req` with its path's dot segments removed (see [`crate::path`]); the query is kept as
/// sent. Untouched (no allocation) when the path has none.
pub fn with_normalised_path<B>(req: Request<B>) -> Result<Request<B>, ClimbsAboveRoot> {
    let normalised = match path::normalise(req.uri().path())? {
        Cow::Borrowed(_) => return Ok(req),
        Cow::Owned(path) => path,
    };
    let (mut parts, body) = req.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{normalised}?{query}"),
        None => normalised,
    };
    let mut uri = parts.uri.into_parts();
    // Dot segments removed from a valid path leave a valid path.
    uri.path_and_query = Some(path_and_query.parse().map_err(|_| ClimbsAboveRoot)?);
    parts.uri = http::Uri::from_parts(uri).map_err(|_| ClimbsAboveRoot)?;
    Ok(Request::from_parts(parts, body))
}

pin_project_lite::pin_project! {
    /// A response body that marks the request finished (for the idle timer) when hyper has
    /// sent or dropped it, and writes its access-log line then.
    pub(crate) struct GuardedBody {
        #[pin]
        inner: GateBody,
        line: Option<Box<AccessLine>>,
        // HTTP/1 only: HTTP/2 bounds each stream's queue itself (`max_send_buf_size`).
        window: Option<WriteWindow>,
        _guard: InflightGuard,
    }
}

wrapper_body!(impl[] GuardedBody, |this, cx| {
        if let Some(window) = this.window.as_mut() {
            ready!(window.poll_room(cx));
        }
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame
            && let Some(data) = frame.data_ref()
        {
            if let Some(line) = this.line.as_mut() {
                line.bytes += data.len() as u64;
            }
            if let Some(window) = this.window.as_mut() {
                window.yielded(data.len());
            }
        }
        frame
});
