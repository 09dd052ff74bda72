//! Stage 0: methods a gateway in front of an exporter never forwards. `CONNECT` asks for a
//! tunnel (the client library would rewrite it and log a warning per request) and `TRACE`
//! echoes the request, credentials included, back to whoever can make a browser send it:
//! both get 405 before anything else runs, so neither costs a bcrypt nor a token of the
//! `rate_limit` bucket. Counted in `scrapegate_client_errors_total{reason="method"}`. Every
//! other method is forwarded; a route's `allow.methods` restricts further.

use http::header::HeaderValue;
use http::{Method, Request};

use super::trace::AuthResult;
use super::{Exchange, Verdict};
use crate::body;
use crate::telemetry::Metrics;

/// What a 405 offers when the route has no `allow.methods` of its own.
const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");

/// Lets any method but `CONNECT` and `TRACE` on.
pub(super) fn check<B>(ex: &mut Exchange<'_>, req: &Request<B>) -> Verdict {
    let m = req.method();
    if m != Method::CONNECT && m != Method::TRACE {
        return Verdict::Pass;
    }
    ex.trace.result = AuthResult::Method;
    Metrics::inc(&ex.gate.metrics.client_errors, "reason", "method");
    let allow = ex
        .route
        .and_then(|r| r.methods_header.clone())
        .unwrap_or(ALLOW);
    Verdict::Answer(body::method_not_allowed(allow))
}
