//! The response body type every handler returns, and Go-style plain-text error responses.

use bytes::Bytes;
use http::header::{
    CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// The error a streamed body can end with (upstream failure, deadline, client abort).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway sends: streamed upstream bytes or a small fixed text.
pub type GateBody = BoxBody<Bytes, BoxError>;

/// A request body the gateway can forward: hyper's `Incoming` from a listener, or any body an
/// embedder hands to [`crate::Gateway::handle`].
pub trait RequestBody: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static {}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static
{
}

/// The size and end-of-stream hints of a body that wraps `$field` without changing its
/// length, for the body wrappers of this crate.
macro_rules! forward_body_hints {
    ($field:ident) => {
        fn is_end_stream(&self) -> bool {
            self.$field.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.$field.size_hint()
        }
    };
}
pub(crate) use forward_body_hints;

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

/// 504: the upstream did not answer within the deadline.
pub fn gateway_timeout() -> Response<GateBody> {
    text(
        StatusCode::GATEWAY_TIMEOUT,
        "Gateway Timeout: the upstream did not answer in time\n",
    )
}
