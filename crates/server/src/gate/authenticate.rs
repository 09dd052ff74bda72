//! Stage 2: who is asking. An anonymous path of the route passes without credentials;
//! `Authorization: Bearer` is checked against scrapegate.yml's tokens, anything else against
//! web.yml's users (basic auth; the auth crate decides, with its cache, coalescing and
//! limiter). With neither users nor tokens configured every request passes, as in Go. Failed
//! attempts of either kind count in the same per-source limiter; a 401 challenges for each
//! kind configured, and says nothing about which part was wrong.

use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, StatusCode};
use scrapegate_auth::{AuthDecision, parse_basic_auth, parse_bearer};

use super::trace::{AuthKind, AuthResult};
use super::{Exchange, Verdict};
use crate::body;

/// Lets the request on with its identity recorded, or answers 401, 429 or 503.
pub(super) async fn check<B>(ex: &mut Exchange<'_>, req: &Request<B>) -> Verdict {
    if ex.route.is_some_and(|r| r.is_anonymous(req.uri().path())) {
        ex.trace.result = AuthResult::Anonymous;
        ex.trace.kind = Some(AuthKind::Anonymous);
        ex.gate.metrics.count_auth(AuthKind::Anonymous, "allow");
        return Verdict::Pass;
    }
    let authorization = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let bearer_configured = !ex.generation.tokens.is_empty();
    if bearer_configured && let Some(token) = authorization.and_then(parse_bearer) {
        return bearer(ex, token);
    }
    if ex.gate.auth.has_users() {
        return basic(ex, authorization, bearer_configured).await;
    }
    if bearer_configured {
        // Tokens are configured and this request brought none.
        ex.trace.result = AuthResult::Missing;
        ex.trace.kind = Some(AuthKind::Bearer);
        ex.gate.metrics.count_auth(AuthKind::Bearer, "deny");
        return Verdict::Answer(body::unauthorized(false, true));
    }
    Verdict::Pass
}

/// True when the user or token name must be recorded: a rule of the route names users or
/// tokens, or the access log is on.
fn wants_names(ex: &Exchange<'_>) -> bool {
    ex.trace.wants_identity
        || ex
            .route
            .and_then(|r| r.allow.as_ref())
            .is_some_and(|a| a.users.is_some() || a.tokens.is_some())
}

fn bearer(ex: &mut Exchange<'_>, token: &[u8]) -> Verdict {
    ex.trace.kind = Some(AuthKind::Bearer);
    let peer = ex.origin.peer;
    let metrics = &ex.gate.metrics;
    if let Some(retry_after) = ex.gate.auth.limited(peer) {
        ex.trace.result = AuthResult::Limited;
        metrics.count_auth(AuthKind::Bearer, "limited");
        return Verdict::Answer(too_many(retry_after));
    }
    match ex.generation.tokens.verify(token) {
        Some(name) => {
            if wants_names(ex) {
                ex.trace.token = Some(name.to_owned());
            }
            metrics.count_auth(AuthKind::Bearer, "allow");
            Verdict::Pass
        }
        None => {
            ex.gate.auth.record_failure(peer);
            ex.trace.result = AuthResult::BadToken;
            metrics.count_auth(AuthKind::Bearer, "deny");
            Verdict::Answer(body::unauthorized(ex.gate.auth.has_users(), true))
        }
    }
}

async fn basic(ex: &mut Exchange<'_>, authorization: Option<&[u8]>, bearer: bool) -> Verdict {
    ex.trace.kind = Some(AuthKind::Basic);
    let auth = &ex.gate.auth;
    let metrics = &ex.gate.metrics;
    match auth.check(authorization, ex.origin.peer).await {
        AuthDecision::Allow => {
            metrics.count_auth_allowed();
            if wants_names(ex) {
                ex.trace.user = authorization
                    .and_then(parse_basic_auth)
                    .map(|c| String::from_utf8_lossy(c.username()).into_owned());
            }
            Verdict::Pass
        }
        AuthDecision::Deny => {
            metrics.count_auth(AuthKind::Basic, "deny");
            let (reason, user) = auth.why_denied(authorization);
            ex.trace.result = match reason {
                scrapegate_auth::DenyReason::Missing => AuthResult::Missing,
                scrapegate_auth::DenyReason::UnknownUser => AuthResult::UnknownUser,
                scrapegate_auth::DenyReason::BadPassword => AuthResult::BadPassword,
            };
            if ex.trace.wants_identity {
                ex.trace.user = user;
            }
            Verdict::Answer(body::unauthorized(true, bearer))
        }
        AuthDecision::Busy { retry_after } => {
            metrics.count_auth(AuthKind::Basic, "busy");
            ex.trace.result = AuthResult::Busy;
            Verdict::Answer(body::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable\n",
                whole_seconds(retry_after),
            ))
        }
        AuthDecision::Limited { retry_after } => {
            metrics.count_auth(AuthKind::Basic, "limited");
            ex.trace.result = AuthResult::Limited;
            Verdict::Answer(too_many(retry_after))
        }
    }
}

/// 429 with `Retry-After` from the per-source failure limiter.
fn too_many(retry_after: Duration) -> http::Response<crate::body::GateBody> {
    body::retry_after(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests\n",
        whole_seconds(retry_after),
    )
}

fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
}
