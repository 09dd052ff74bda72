//! Deadline-bounded waiting. Tests never sleep to synchronise: they poll a condition until it
//! holds or a generous deadline passes.

use std::future::Future;
use std::time::{Duration, Instant};

/// Generous upper bound for anything a test waits on (two shared cores, debug builds).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `cond` every 2 ms until it holds; panics naming `what` when `limit` passes first.
/// Blocks the thread: for synchronous tests.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// [`wait_until`] inside a tokio runtime: yields to the runtime between polls.
pub async fn wait_until_async(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Polls an async `cond` every 20 ms until it holds or `deadline` passes; returns whether it
/// held (for conditions that need I/O, e.g. scraping metrics).
pub async fn eventually<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
