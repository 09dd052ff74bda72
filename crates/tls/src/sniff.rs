//! Looking at the first bytes before rustls does, and the two raw replies sent outside rustls:
//! Go's plain-HTTP 400 and the protocol_version alert for a min > max configuration.
//!
//! The first bytes are read (not peeked) into a small buffer, with plain awaited reads: a
//! client that sends part of a prefix and waits costs nothing until it sends more, and one
//! that closes ends the connection at once. The bytes read are then handed on: replayed into
//! rustls' connection before its handshake reads the socket ([`replay`]), or read again in
//! front of the socket for the protocol_version reply.

use std::io;
use std::time::Duration;

use rustls::ServerConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What net/http writes when a TLS listener receives plain HTTP.
pub const PLAIN_HTTP_RESPONSE: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The five-byte prefixes Go's `tlsRecordHeaderLooksLikeHTTP` recognises.
const HTTP_PREFIXES: [&[u8; 5]; 5] = [b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"];

/// A fatal protocol_version alert record (record version TLS 1.0, as Go writes before a
/// version is negotiated).
const PROTOCOL_VERSION_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];

/// Bound on what is read and thrown away around a raw reply.
const DRAIN_LIMIT: usize = 64 * 1024;
/// How long to wait for the peer to close after a raw reply, so that closing does not turn
/// into a reset that could destroy the reply before the peer reads it.
const LINGER: Duration = Duration::from_millis(500);

/// The first bytes, classified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FirstBytes {
    /// A plain HTTP request.
    PlainHttp,
    /// A ClientHello whose highest version is below TLS 1.2 (legacy_version < 0x0303; any
    /// TLS 1.2/1.3 client sends 0x0303). rustls would answer handshake_failure (the hello lacks
    /// extensions it requires); Go answers protocol_version, so we do too.
    LegacyClientHello,
    /// Anything else: rustls decides.
    Other,
    /// The peer closed before sending enough to decide (possibly nothing at all).
    Eof,
}

/// Bytes needed to read a ClientHello's legacy_version: record header (5), handshake type
/// and length (4), version (2).
const CLIENT_HELLO_VERSION_END: usize = 11;

/// The first bytes of a connection, consumed from the socket by [`classify`]; whoever handles
/// the connection next must see them first.
#[derive(Debug, Default)]
pub(crate) struct Prefix {
    buf: [u8; CLIENT_HELLO_VERSION_END],
    len: usize,
}

impl Prefix {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads until the first bytes can be classified, or the peer closes. Every read is an awaited
/// socket read: nothing runs while a partial prefix waits for more. The caller's handshake
/// deadline bounds the wait.
pub(crate) async fn classify(tcp: &mut TcpStream) -> io::Result<(FirstBytes, Prefix)> {
    let mut prefix = Prefix::default();
    loop {
        // Never a zero-length read: a full buffer always classifies (see `classify_prefix`).
        let n = tcp.read(&mut prefix.buf[prefix.len..]).await?;
        if n == 0 {
            return Ok((FirstBytes::Eof, prefix));
        }
        prefix.len += n;
        if let Some(class) = classify_prefix(prefix.bytes()) {
            return Ok((class, prefix));
        }
    }
}

/// Hands `bytes` (read off the socket by [`classify`]) to a fresh rustls connection, as if its
/// handshake had read them itself, before it reads the socket. They are processed at once, so
/// a record that ends within them (an alert, a malformed hello) fails now rather than when the
/// client next sends something: the error comes back with the alert rustls queued for it (the
/// caller writes that and closes).
pub(crate) fn replay(
    conn: &mut ServerConnection,
    mut bytes: &[u8],
) -> Result<(), (rustls::Error, Vec<u8>)> {
    while !bytes.is_empty() {
        match conn.read_tls(&mut bytes) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    conn.process_new_packets().map(|_| ()).map_err(|error| {
        let mut alert = Vec::new();
        while conn.wants_write() {
            if !matches!(conn.write_tls(&mut alert), Ok(n) if n > 0) {
                break;
            }
        }
        (error, alert)
    })
}

/// Classifies the first bytes, or `None` when more are needed.
fn classify_prefix(seen: &[u8]) -> Option<FirstBytes> {
    if seen.first() == Some(&0x16) {
        // A handshake record: look at the ClientHello's legacy_version.
        if seen.len() < CLIENT_HELLO_VERSION_END {
            return None;
        }
        let is_client_hello = seen[5] == 0x01;
        let version = u16::from_be_bytes([seen[9], seen[10]]);
        return Some(if is_client_hello && version < 0x0303 {
            FirstBytes::LegacyClientHello
        } else {
            FirstBytes::Other
        });
    }
    let head = &seen[..seen.len().min(5)];
    if !HTTP_PREFIXES.iter().any(|p| p.starts_with(head)) {
        return Some(FirstBytes::Other);
    }
    (head.len() == 5).then_some(FirstBytes::PlainHttp)
}

/// Sends Go's 400 reply and closes gracefully.
pub(crate) async fn reject_plain_http(mut tcp: TcpStream) -> io::Result<()> {
    discard_buffered(&tcp);
    tcp.write_all(PLAIN_HTTP_RESPONSE).await?;
    linger_and_close(tcp)
}

/// Reads the first record (the ClientHello; `prefix` is its start, already read), answers
/// with a protocol_version alert, closes.
pub(crate) async fn refuse_version(mut tcp: TcpStream, prefix: &[u8]) -> io::Result<()> {
    let mut input = prefix.chain(&mut tcp);
    let mut header = [0u8; 5];
    input.read_exact(&mut header).await?;
    if header[0] == 0x16 {
        // A record body is at most 2^14 bytes plus expansion; the u16 length bounds it anyway.
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut body = vec![0u8; len];
        input.read_exact(&mut body).await?;
        tcp.write_all(&PROTOCOL_VERSION_ALERT).await?;
    }
    linger_and_close(tcp)
}

/// Throws away bytes already received, without waiting.
fn discard_buffered(tcp: &TcpStream) {
    let mut scratch = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_LIMIT {
        match tcp.try_read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Half-closes, then, in a detached task bounded by `LINGER`, waits for the peer's close while
/// discarding its input. Detached so the caller's outcome (and handshake deadline) is not
/// affected by how slowly the peer closes.
fn linger_and_close(tcp: TcpStream) -> io::Result<()> {
    tokio::spawn(close_gracefully(tcp));
    Ok(())
}

async fn close_gracefully(mut tcp: TcpStream) {
    if tcp.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        while total < DRAIN_LIMIT {
            match tcp.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            classify_prefix(b"GET / HTTP/1.1"),
            Some(FirstBytes::PlainHttp)
        );
        assert_eq!(
            classify_prefix(b"OPTIONS * HTTP/1.1"),
            Some(FirstBytes::PlainHttp)
        );
        assert_eq!(classify_prefix(b"GE"), None);
        assert_eq!(classify_prefix(b"GET x"), Some(FirstBytes::Other));
        assert_eq!(classify_prefix(b"DELETE /"), Some(FirstBytes::Other));
        assert_eq!(classify_prefix(&[0x16, 3, 1]), None);
        let tls12 = [0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3];
        assert_eq!(classify_prefix(&tls12), Some(FirstBytes::Other));
        let tls11 = [0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 2];
        assert_eq!(classify_prefix(&tls11), Some(FirstBytes::LegacyClientHello));
    }
}
