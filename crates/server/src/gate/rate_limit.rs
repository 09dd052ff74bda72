//! Stage 1: the global web.yml `rate_limit` bucket. Spent before authentication, as in Go, so
//! a 429 here costs no bcrypt.

use super::Verdict;
use crate::body;
use crate::generation::Generation;
use crate::telemetry::Metrics;

/// 429 `Too Many Requests` when the bucket is empty.
pub(super) fn check(generation: &Generation, metrics: &Metrics) -> Verdict {
    if generation.limiter.allow() {
        Verdict::Pass
    } else {
        metrics.rate_limited.inc();
        Verdict::Answer(body::too_many_requests())
    }
}
