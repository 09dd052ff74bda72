//! Stage 1: the global web.yml `rate_limit` bucket. Spent before authentication, as in Go, so
//! a 429 here costs no bcrypt.

use super::trace::AuthResult;
use super::{Exchange, Verdict};
use crate::body;

/// 429 `Too Many Requests` when the bucket is empty.
pub(super) fn check(ex: &mut Exchange<'_>) -> Verdict {
    if ex.generation.limiter.allow() {
        Verdict::Pass
    } else {
        ex.gate.metrics.rate_limited.inc();
        ex.trace.result = AuthResult::RateLimited;
        Verdict::Answer(body::too_many_requests())
    }
}
