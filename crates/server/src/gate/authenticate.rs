//! Stage 2: basic auth against web.yml's users (the auth crate decides; this stage turns the
//! decision into an answer and counts it). Without users every request passes, as in Go.

use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, StatusCode};
use scrapegate_auth::AuthDecision;

use super::{GateState, Verdict};
use crate::body;
use crate::telemetry::Metrics;
use crate::upstream::Origin;

/// 401 for missing or wrong credentials, 503 with `Retry-After` when the bcrypt queue is
/// full, 429 with `Retry-After` when the client's source failed too often.
pub(super) async fn check<B>(gate: &GateState, req: &Request<B>, origin: &Origin) -> Verdict {
    let authorization = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let decision = gate.auth.check(authorization, origin.peer).await;
    let metrics = &gate.metrics;
    let secs = |d: Duration| d.as_secs_f64().ceil() as u64;
    match decision {
        AuthDecision::Allow => {
            if gate.auth.has_users() {
                metrics.count_auth_allowed();
            }
            Verdict::Pass
        }
        AuthDecision::Deny => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "deny");
            Verdict::Answer(body::unauthorized())
        }
        AuthDecision::Busy { retry_after } => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "busy");
            Verdict::Answer(body::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable\n",
                secs(retry_after),
            ))
        }
        AuthDecision::Limited { retry_after } => {
            Metrics::inc(&metrics.auth_decisions, "outcome", "limited");
            Verdict::Answer(body::retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests\n",
                secs(retry_after),
            ))
        }
    }
}
