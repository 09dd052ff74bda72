//! Waiting for the rest of the scheduler's turn: the one primitive behind the gateway's write
//! batching (HTTP/2 responses in [`crate::front`], upstream requests in [`crate::upstream`]).

use std::future::Future;
use std::task::{Context, Poll};

/// Returns `Pending` and arranges for `cx`'s task to be polled again once every other ready
/// task has run and the runtime has polled for I/O (tokio's `yield_now` defers its wake-up to
/// that point; waking `cx` directly would run the task again at once, with nothing gained).
pub(crate) fn after_other_ready_tasks<T>(cx: &mut Context<'_>) -> Poll<T> {
    let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
    Poll::Pending
}
