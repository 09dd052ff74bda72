//! The auth crate's own test settings (the shared helpers are in `scrapegate-testkit`).

use scrapegate_auth::AuthSettings;

/// Settings for tests: a pool of `threads` with a queue of `queue`, the failure limiter off
/// unless a test turns it on.
pub fn settings(threads: usize, queue: usize) -> AuthSettings {
    AuthSettings {
        pool_threads: threads,
        queue_capacity: queue,
        failure_limit: 0,
        ..AuthSettings::default()
    }
}
