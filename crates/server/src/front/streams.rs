//! HTTP/2 streams polled on their connection's task instead of a task each.
//!
//! hyper hands every HTTP/2 request (an `H2Stream` future: the service call, then sending the
//! response) to the connection's executor. With `TokioExecutor` each one is a task of its own:
//! an allocation, the future moved into the task cell, and a round trip through the scheduler
//! for every wake-up (the upstream answer wakes the stream task, which queues frames and wakes
//! the connection task, which writes them). [`LocalStreams`] instead queues the futures for
//! [`WithStreams`], the connection's own future, which polls the connection and its streams
//! together: one task per connection, whatever the number of streams.
//!
//! A panic in one stream ends that stream only (it is caught around each poll and its stream
//! is dropped, which resets it), as it did when each stream was a task of its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};

type Stream = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor handed to hyper's HTTP/2 connection: it only queues the stream futures for
/// the [`WithStreams`] that drives the same connection.
#[derive(Clone, Default)]
pub(crate) struct LocalStreams {
    queue: Arc<Mutex<Vec<Stream>>>,
}

impl<F> hyper::rt::Executor<F> for LocalStreams
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::pin(fut));
    }
}

/// A connection future and the streams it started, polled together. Resolves when the
/// connection does; streams still running then are dropped with it (the connection that would
/// carry their responses is gone).
pub(crate) struct WithStreams<C> {
    conn: Pin<Box<C>>,
    queue: Arc<Mutex<Vec<Stream>>>,
    running: FuturesUnordered<Stream>,
}

impl<C> WithStreams<C> {
    /// `conn` was built with `streams` as its executor.
    pub(crate) fn new(conn: Pin<Box<C>>, streams: &LocalStreams) -> Self {
        Self {
            conn,
            queue: Arc::clone(&streams.queue),
            running: FuturesUnordered::new(),
        }
    }

    /// The connection, for graceful shutdown.
    pub(crate) fn conn(&mut self) -> Pin<&mut C> {
        self.conn.as_mut()
    }

    /// Moves the streams hyper started since the last call into the running set.
    fn adopt(&mut self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.is_empty() {
            return false;
        }
        for fut in queue.drain(..) {
            self.running.push(contained(fut));
        }
        true
    }
}

/// `fut` with a panic caught and logged by the panic hook: the stream ends, its connection and
/// the other streams on it do not.
fn contained(fut: Stream) -> Stream {
    Box::pin(AssertUnwindSafe(fut).catch_unwind().map(|_| ()))
}

/// How often one poll goes back to the connection after its streams made progress (their
/// frames are then written in the same wake-up instead of the next one), before yielding.
const ROUNDS: usize = 2;

impl<C: Future> Future for WithStreams<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = self.get_mut();
        for _ in 0..ROUNDS {
            if let Poll::Ready(out) = this.conn.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            let adopted = this.adopt();
            let mut finished = false;
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(cx) {
                finished = true;
            }
            // Streams that were only waiting (on the upstream) leave nothing new for the
            // connection to do; a new or finished stream usually does.
            if !adopted && !finished {
                break;
            }
        }
        Poll::Pending
    }
}
