//! One request on a served connection: hands it to the listener's app and marks it in flight
//! for the connection's idle clock until hyper has sent (or dropped) the response body.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use hyper::body::Incoming;

use super::clock::{ConnClock, InflightGuard};
use crate::apps::App;
use crate::body::{BoxError, GateBody, forward_body_hints};
use crate::upstream::Origin;

/// What the front end knows about the connection a request came on.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub(crate) origin: Origin,
    pub(crate) clock: Arc<ConnClock>,
}

/// Serves one request with `app`.
pub(crate) async fn serve<A: App>(
    app: Arc<A>,
    conn: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<GuardedBody>, Infallible> {
    let guard = conn.clock.request_started();
    let resp = app.call(req, &conn.origin).await;
    Ok(resp.map(|inner| GuardedBody {
        inner,
        _guard: guard,
    }))
}

pin_project_lite::pin_project! {
    /// A response body that marks the request finished (for the idle timer) when hyper has
    /// sent or dropped it.
    pub(crate) struct GuardedBody {
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

    forward_body_hints!(inner);
}
