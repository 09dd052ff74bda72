//! Write coalescing for HTTP/2 connections: many small writes, one TLS write per flush.
//!
//! hyper's HTTP/2 codec (the `h2` crate) hands every DATA frame larger than 256 bytes to the
//! transport as its own (vectored) write, and tokio-rustls encrypts and sends each write at
//! once: with 16 streams answering on one connection, that is 16 TLS records and 16 `sendmsg`
//! calls where one of each would do. HTTP/1 does not need this (hyper buffers a whole response
//! and `pipeline_flush` batches pipelined ones).
//!
//! [`Coalesce`] sits between the codec and the TLS stream. Writes are copied into one buffer
//! (a 2 KiB scrape costs a `memcpy`, far less than a system call and a record) and reach the
//! TLS stream on `poll_flush`, which `h2` calls whenever it has queued everything it can,
//! or when the buffer reaches [`LIMIT`]. The buffer is released after each flush, so an idle
//! connection holds none.
//!
//! A flush first lets the runtime's other ready tasks run (the streams whose upstream answers
//! arrived meanwhile queue theirs), and again while that added bytes, at most [`MAX_WAITS`]
//! times: under load a write carries about five 2 KiB responses instead of two (0.51 → 0.25
//! writes per request with 4 connections × 16 streams, `loadtest/run`), and a lone response
//! waits one turn, as before.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::turn::after_other_ready_tasks;

/// Bytes buffered before a write goes to the transport without waiting for a flush: two full
/// TLS records, so a large body still streams without an unbounded buffer.
pub const LIMIT: usize = 32 * 1024;

/// How many scheduler turns a flush may wait for more responses (each wait is one pass over
/// the ready tasks and one poll for I/O, microseconds under load).
pub const MAX_WAITS: u8 = 4;

/// An [`AsyncRead`] + [`AsyncWrite`] whose writes are held until `poll_flush` (or until
/// [`LIMIT`] bytes are waiting). Reads pass straight through.
#[derive(Debug)]
pub struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// How much of `buf` the transport has taken (a flush can be interrupted by `Pending`).
    sent: usize,
    /// How many turns the current flush has waited (0: none yet; [`MAX_WAITS`] also while it
    /// drains, so a transport that is busy does not make it wait again).
    waits: u8,
    /// The buffered length when the flush last waited: a turn that added nothing ends it.
    len_at_wait: usize,
}

impl<T> Coalesce<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            sent: 0,
            waits: 0,
            len_at_wait: 0,
        }
    }

    /// The bytes accepted but not yet handed to the transport.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Room left before writes must go to the transport.
    fn room(&self) -> usize {
        LIMIT.saturating_sub(self.buf.len())
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Hands the buffer to the transport, then frees it. `Ready(Ok)` means all of it was taken.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        // Released rather than cleared: most connections are idle most of the time, and an
        // idle HTTP/2 connection should not pin a buffer (the allocator reuses the block).
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Makes room for a write: drains the buffer first when it is full.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.room() == 0 {
            ready!(self.poll_drain(cx))?;
        }
        if self.buf.capacity() == 0 {
            // All at once: growing by doubling would copy what is already buffered.
            self.buf.reserve_exact(LIMIT);
        }
        Poll::Ready(Ok(self.room()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = ready!(self.poll_room(cx))?;
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut room = ready!(self.poll_room(cx))?;
        let mut taken = 0;
        for b in bufs {
            let n = b.len().min(room);
            self.buf.extend_from_slice(&b[..n]);
            taken += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        // Vectored, so the codec chains a DATA frame's payload instead of copying it into its
        // own buffer first: the payload is then copied once, here.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let grew = self.waits == 0 || self.buf.len() > self.len_at_wait;
        if !self.buf.is_empty() && grew && self.waits < MAX_WAITS && self.room() > 0 {
            self.waits += 1;
            self.len_at_wait = self.buf.len();
            return after_other_ready_tasks(cx);
        }
        // Waiting is over for this flush, also if the transport cannot take it all at once.
        self.waits = MAX_WAITS;
        ready!(self.poll_drain(cx))?;
        self.waits = 0;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A transport that records each write it receives, taking at most `max` bytes at a time.
    struct Recorder {
        writes: Vec<Vec<u8>>,
        flushes: usize,
        max: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn recorder(max: usize) -> Coalesce<Recorder> {
        Coalesce::new(Recorder {
            writes: Vec::new(),
            flushes: 0,
            max,
        })
    }

    #[tokio::test]
    async fn writes_reach_the_transport_as_one_write_per_flush() {
        let mut c = recorder(usize::MAX);
        for i in 0..16u8 {
            c.write_all(&[i; 100]).await.unwrap();
            let (head, payload) = ([i; 9], [i; 1000]);
            let vectored = [io::IoSlice::new(&head), io::IoSlice::new(&payload)];
            let n = c.write_vectored(&vectored).await.unwrap();
            assert_eq!(n, 1009, "room for both slices");
        }
        assert!(c.inner.writes.is_empty(), "nothing sent before the flush");
        c.flush().await.unwrap();
        assert_eq!(c.inner.writes.len(), 1);
        assert_eq!(c.inner.flushes, 1);
        let expected: Vec<u8> = (0..16u8)
            .flat_map(|i| [vec![i; 100], vec![i; 9], vec![i; 1000]].concat())
            .collect();
        assert!(c.inner.writes[0] == expected, "the bytes, in order");
        assert_eq!(c.pending(), 0);
        assert_eq!(c.buf.capacity(), 0, "the buffer is released after a flush");
    }

    fn poll_flush_now(c: &mut Coalesce<Recorder>) -> Poll<io::Result<()>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(c).poll_flush(&mut cx)
    }

    #[tokio::test]
    async fn a_lone_response_waits_one_turn_then_goes_out() {
        let mut c = recorder(usize::MAX);
        c.write_all(b"response").await.unwrap();
        assert!(
            poll_flush_now(&mut c).is_pending(),
            "first poll waits a turn"
        );
        assert!(c.inner.writes.is_empty());
        assert!(
            matches!(poll_flush_now(&mut c), Poll::Ready(Ok(()))),
            "nothing was added during the turn: no second wait"
        );
        assert_eq!(c.inner.writes, vec![b"response".to_vec()]);
        // Nothing buffered: nothing to wait for.
        assert!(matches!(poll_flush_now(&mut c), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.flushes, 2);
    }

    #[tokio::test]
    async fn a_flush_waits_while_responses_keep_arriving_at_most_max_waits_turns() {
        let mut c = recorder(usize::MAX);
        c.write_all(b"first").await.unwrap();
        for turn in 0..MAX_WAITS {
            assert!(poll_flush_now(&mut c).is_pending(), "turn {turn} waits");
            // Another stream's response arrives during the turn.
            c.write_all(b"+more").await.unwrap();
        }
        assert!(
            matches!(poll_flush_now(&mut c), Poll::Ready(Ok(()))),
            "bounded: after MAX_WAITS turns it goes out although the buffer grew"
        );
        let expected = [b"first".to_vec(), b"+more".repeat(usize::from(MAX_WAITS))].concat();
        assert_eq!(c.inner.writes, vec![expected], "all of it in one write");
        assert!(poll_flush_now(&mut c).is_ready());
        c.write_all(b"next").await.unwrap();
        assert!(
            poll_flush_now(&mut c).is_pending(),
            "the next flush waits again"
        );
    }

    #[tokio::test]
    async fn a_flush_that_the_transport_cannot_take_at_once_does_not_wait_again() {
        let mut c = Coalesce::new(Stalling {
            taken: Vec::new(),
            ready: false,
        });
        c.write_all(b"response").await.unwrap();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(
            Pin::new(&mut c).poll_flush(&mut cx).is_pending(),
            "the turn"
        );
        assert!(
            Pin::new(&mut c).poll_flush(&mut cx).is_pending(),
            "the transport is busy"
        );
        c.inner.ready = true;
        assert!(
            matches!(Pin::new(&mut c).poll_flush(&mut cx), Poll::Ready(Ok(()))),
            "once the transport takes it, the flush ends without another turn"
        );
        assert_eq!(c.inner.taken, b"response");
    }

    /// A transport that takes nothing until `ready`.
    struct Stalling {
        taken: Vec<u8>,
        ready: bool,
    }

    impl AsyncWrite for Stalling {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if !self.ready {
                return Poll::Pending;
            }
            self.taken.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_full_buffer_goes_out_before_more_is_taken() {
        let mut c = recorder(usize::MAX);
        let big = vec![7u8; LIMIT + 1000];
        c.write_all(&big).await.unwrap();
        assert_eq!(c.inner.writes.len(), 1, "the first LIMIT bytes were sent");
        assert_eq!(c.inner.writes[0].len(), LIMIT);
        assert_eq!(c.pending(), 1000);
        c.flush().await.unwrap();
        let sent: usize = c.inner.writes.iter().map(Vec::len).sum();
        assert_eq!(sent, big.len());
    }

    #[tokio::test]
    async fn a_transport_taking_part_of_a_write_gets_the_rest_in_order() {
        let mut c = recorder(1000);
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        c.write_all(&data).await.unwrap();
        c.shutdown().await.unwrap();
        assert!(c.inner.writes.concat() == data, "the bytes, in order");
    }

    #[tokio::test]
    async fn reads_pass_through() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut c = Coalesce::new(a);
        b.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        c.write_all(b"pong").await.unwrap();
        c.flush().await.unwrap();
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }
}
