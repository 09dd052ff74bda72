//! HTTP/1.1 written by hand on any stream, for framing a hyper client refuses to send
//! (malformed chunked bodies, `CONNECT` by hand, uploads that stall) and for clients that
//! connect from a chosen address ([`crate::net::tcp_from`]); clients that ask and never read
//! ([`stalled_request`]).

use std::time::Duration;

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::wait::DEADLINE;

/// Writes `request` on `io` and returns everything the server sent until it closed (or until
/// `limit` passed, when the server had sent nothing: the bytes so far otherwise). A reset
/// after the first bytes of the answer ends the read without failing.
pub async fn exchange<S>(mut io: S, request: &[u8], limit: Duration) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A server may answer and close before the whole request is written (a 413 on a long
    // body): a failed write is not an error, the answer is what counts.
    let _ = io.write_all(request).await;
    read_answer(&mut io, limit).await
}

/// A client that asks and then does not read: connects to `addr` with a receive buffer of
/// about `recv_buffer` bytes (the kernel may round it up), writes `request` and returns the
/// stream unread, so the answer backs up into the server.
pub async fn stalled_request(addr: SocketAddr, request: &[u8], recv_buffer: u32) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(recv_buffer)
        .expect("set the receive buffer");
    let mut tcp = sock.connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write the request");
    tcp
}

/// [`exchange`] bounded by [`DEADLINE`].
pub async fn send<S>(io: S, request: &[u8]) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    exchange(io, request, DEADLINE).await
}

/// Reads from `io` until it closes or `limit` passes; the bytes read, lossily decoded.
pub async fn read_answer<S>(io: &mut S, limit: Duration) -> String
where
    S: AsyncRead + Unpin,
{
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status line of a raw answer (empty when nothing came back).
pub fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// The body of a raw answer with a `Content-Length` (everything after the head otherwise).
pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}
