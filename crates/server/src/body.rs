//! The response body type every handler returns, and Go-style plain-text error responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use scrapegate_model::duration::format_go;

use crate::upstream::UpstreamFailure;

/// The error a streamed body can end with (upstream failure, deadline, client abort).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway sends: streamed upstream bytes or a small fixed text.
pub type GateBody = BoxBody<Bytes, BoxError>;

/// A request body the gateway can forward: hyper's `Incoming` from a listener, or any body an
/// embedder hands to [`crate::Gateway::handle`].
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static
{
}

/// `impl Body` for a wrapper around a streamed body (its field `inner`) that watches or
/// limits the frames but never changes the length: `poll_frame` is `$poll`, run with `$this`
/// the projected wrapper and `$cx` the context; the size and end-of-stream hints are the
/// inner body's.
macro_rules! wrapper_body {
    (impl[$($generics:tt)*] $ty:ty, |$this:ident, $cx:ident| $poll:block) => {
        impl<$($generics)*> http_body::Body for $ty {
            type Data = bytes::Bytes;
            type Error = $crate::body::BoxError;

            fn poll_frame(
                self: std::pin::Pin<&mut Self>,
                $cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<
                Option<Result<http_body::Frame<bytes::Bytes>, $crate::body::BoxError>>,
            > {
                let $this = self.project();
                $poll
            }

            fn is_end_stream(&self) -> bool {
                self.inner.is_end_stream()
            }

            fn size_hint(&self) -> http_body::SizeHint {
                self.inner.size_hint()
            }
        }
    };
}
pub(crate) use wrapper_body;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> GateBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Go's `http.Error`: `text` plus a newline, `text/plain; charset=utf-8`, `nosniff`.
pub fn text(status: StatusCode, text: &'static str) -> Response<GateBody> {
    let mut resp = Response::new(full(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// 401 with a `WWW-Authenticate` challenge for each kind of credential configured: `Basic`
/// (no realm, as the toolkit answers) and/or `Bearer`.
pub fn unauthorized(basic: bool, bearer: bool) -> Response<GateBody> {
    let mut resp = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    let headers = resp.headers_mut();
    if basic || !bearer {
        headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    if bearer {
        headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// 403 for an authenticated request its route's `allow` rule does not admit.
pub fn forbidden() -> Response<GateBody> {
    text(StatusCode::FORBIDDEN, "Forbidden\n")
}

/// 405 with the `Allow` header listing what the route permits.
pub fn method_not_allowed(allow: HeaderValue) -> Response<GateBody> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    resp.headers_mut().insert(http::header::ALLOW, allow);
    resp
}

/// 429 from the `rate_limit` bucket: Go sends no `Retry-After`.
pub fn too_many_requests() -> Response<GateBody> {
    text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n")
}

/// 429 or 503 carrying a `Retry-After` in whole seconds (at least 1).
pub fn retry_after(status: StatusCode, text_body: &'static str, secs: u64) -> Response<GateBody> {
    let mut resp = text(status, text_body);
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

/// 404 as Go's `http.NotFound` words it.
pub fn not_found() -> Response<GateBody> {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// 502: the upstream could not be reached or broke the exchange.
pub fn bad_gateway() -> Response<GateBody> {
    text(
        StatusCode::BAD_GATEWAY,
        "Bad Gateway: the upstream could not be reached\n",
    )
}

/// 504: the upstream of `route` did not answer within `budget`. The text names both, so it
/// shows in Prometheus's `lastError` (the gateway answers before Prometheus gives up).
pub fn gateway_timeout(route: &str, budget: Duration) -> Response<GateBody> {
    let mut resp = text(StatusCode::GATEWAY_TIMEOUT, "");
    *resp.body_mut() = full(format!(
        "Gateway Timeout: upstream for route {route} did not answer within {}\n",
        format_go(budget)
    ));
    resp
}

/// 400: the request body broke off or its framing was malformed.
pub fn bad_request_body() -> Response<GateBody> {
    text(
        StatusCode::BAD_REQUEST,
        "Bad Request: malformed or incomplete request body\n",
    )
}

/// 413: the request body is longer than `--web.max-request-body-bytes`.
pub fn body_too_large() -> Response<GateBody> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Content Too Large: the request body exceeds the gateway's limit\n",
    )
}

/// What went wrong with a client's request body, as [`ClientBody`] saw it.
const FAULT_NONE: u8 = 0;
const FAULT_BROKEN: u8 = 1;
const FAULT_TOO_LARGE: u8 = 2;

pin_project_lite::pin_project! {
    /// A client's request body on its way upstream: cut with an error once it crosses `limit`
    /// bytes, and remembering why it failed (a malformed or broken-off body, or the limit), so
    /// a failed exchange is answered as the client's fault (400, 413) rather than the
    /// upstream's (502). After its error it yields nothing more, so a consumer that polls on
    /// can neither pull bytes past the limit nor overwrite the recorded fault.
    pub struct ClientBody<B> {
        #[pin]
        inner: B,
        left: u64,
        fault: Arc<AtomicU8>,
    }
}

/// The other end of a [`ClientBody`]: what the exchange looks at when it failed.
#[derive(Debug)]
pub struct BodyWatch(Arc<AtomicU8>);

impl BodyWatch {
    /// Why the body failed, if it did.
    pub fn fault(&self) -> Option<UpstreamFailure> {
        match self.0.load(Ordering::Acquire) {
            FAULT_BROKEN => Some(UpstreamFailure::BadRequestBody),
            FAULT_TOO_LARGE => Some(UpstreamFailure::BodyTooLarge),
            _ => None,
        }
    }
}

impl<B> ClientBody<B> {
    /// Wraps `inner`, allowing at most `limit` bytes.
    pub fn new(inner: B, limit: u64) -> (Self, BodyWatch) {
        let fault = Arc::new(AtomicU8::new(FAULT_NONE));
        let watch = BodyWatch(Arc::clone(&fault));
        (
            Self {
                inner,
                left: limit,
                fault,
            },
            watch,
        )
    }
}

wrapper_body!(impl[B: RequestBody] ClientBody<B>, |this, cx| {
        if this.fault.load(Ordering::Relaxed) != FAULT_NONE {
            return Poll::Ready(None);
        }
        match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > *this.left {
                        this.fault.store(FAULT_TOO_LARGE, Ordering::Release);
                        return Poll::Ready(Some(Err(BoxError::from(
                            "request body exceeds --web.max-request-body-bytes",
                        ))));
                    }
                    *this.left -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.fault.store(FAULT_BROKEN, Ordering::Release);
                Poll::Ready(Some(Err(e.into())))
            }
            None => Poll::Ready(None),
        }
});

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    use http_body::{Body, Frame};

    use super::*;

    /// A body that yields its frames in order, then ends.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn data(n: usize) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from(vec![b'x'; n])))
    }

    /// Polls `body` to its end: the data that came out and whether it failed.
    fn drain(body: impl Body<Data = Bytes>) -> (usize, bool) {
        let mut body = std::pin::pin!(body);
        let mut cx = Context::from_waker(Waker::noop());
        let (mut bytes, mut failed) = (0, false);
        for _ in 0..16 {
            match body.as_mut().poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(f))) => bytes += f.data_ref().map_or(0, Bytes::len),
                Poll::Ready(Some(Err(_))) => failed = true,
                Poll::Ready(None) => break,
                Poll::Pending => unreachable!("Frames is never pending"),
            }
        }
        (bytes, failed)
    }

    #[test]
    fn a_body_within_the_limit_passes_whole() {
        let (body, watch) = ClientBody::new(Frames([data(6), data(4)].into()), 10);
        assert_eq!(drain(body), (10, false));
        assert_eq!(watch.fault(), None);
    }

    #[test]
    fn nothing_passes_after_the_limit_is_crossed() {
        // A consumer that polls on after the error must neither get the small frames that
        // would still fit under what is left nor see the fault turn into a broken body.
        let frames = [
            data(6),
            data(5),
            data(3),
            Err(std::io::Error::other("reset")),
        ];
        let (body, watch) = ClientBody::new(Frames(frames.into()), 10);
        assert_eq!(drain(body), (6, true));
        assert_eq!(watch.fault(), Some(UpstreamFailure::BodyTooLarge));
    }

    #[test]
    fn nothing_passes_after_a_broken_body() {
        let frames = [data(2), Err(std::io::Error::other("reset")), data(2)];
        let (body, watch) = ClientBody::new(Frames(frames.into()), 10);
        assert_eq!(drain(body), (2, true));
        assert_eq!(watch.fault(), Some(UpstreamFailure::BadRequestBody));
    }
}
