//! Stage 3: the route's `allow` rule (scrapegate.yml). A method outside `allow.methods` gets
//! 405 with `Allow`; an identity that matches no entry of any present list gets 403. An
//! anonymous path is subject to the method rule only; a route without `allow` admits anyone
//! the previous stage let through.

use http::Request;
use scrapegate_model::Identity;

use super::trace::{AuthKind, AuthResult};
use super::{Exchange, Verdict};
use crate::body;

/// Lets an admitted request on, or answers 405 or 403.
pub(super) fn check<B>(ex: &mut Exchange<'_>, req: &Request<B>) -> Verdict {
    let Some(route) = ex.route else {
        return Verdict::Pass;
    };
    let Some(allow) = route.allow.as_ref() else {
        return Verdict::Pass;
    };
    let kind = kind_of(ex);
    if let Some(header) = &route.methods_header
        && !allow.admits_method(req.method())
    {
        ex.trace.result = AuthResult::Method;
        ex.gate.metrics.count_auth(kind, "method");
        return Verdict::Answer(body::method_not_allowed(header.clone()));
    }
    if ex.trace.result == AuthResult::Anonymous {
        return Verdict::Pass;
    }
    let who = Identity {
        user: ex.trace.user.as_deref(),
        token: ex.trace.token.as_deref(),
        client_sans: ex.origin.client_sans.as_deref().unwrap_or(&[]),
    };
    if allow.admits(who) {
        return Verdict::Pass;
    }
    ex.trace.result = AuthResult::Forbidden;
    ex.gate.metrics.count_auth(kind, "forbidden");
    Verdict::Answer(body::forbidden())
}

/// The credential kind that got the request this far, for the metric label (basic when none
/// was needed, as without any rule).
fn kind_of(ex: &Exchange<'_>) -> AuthKind {
    ex.trace.kind.unwrap_or(AuthKind::Basic)
}
