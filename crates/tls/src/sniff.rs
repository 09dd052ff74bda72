//! Looking at the first bytes before rustls does, and the two raw replies sent outside rustls:
//! Go's plain-HTTP 400 and the protocol_version alert for a min > max configuration.

use std::io;
use std::time::Duration;

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
/// Back-off while an HTTP-looking prefix is still shorter than five bytes.
const PARTIAL_PREFIX_BACKOFF: Duration = Duration::from_millis(5);

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
    /// The peer closed before sending anything.
    Eof,
}

/// Bytes needed to read a ClientHello's legacy_version: record header (5), handshake type
/// and length (4), version (2).
const CLIENT_HELLO_VERSION_END: usize = 11;

/// Peeks (does not consume) until the first bytes can be classified.
pub(crate) async fn classify(tcp: &TcpStream) -> io::Result<FirstBytes> {
    let mut buf = [0u8; CLIENT_HELLO_VERSION_END];
    loop {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Ok(FirstBytes::Eof);
        }
        if let Some(class) = classify_prefix(&buf[..n]) {
            return Ok(class);
        }
        // Too few bytes to decide (a segment split). peek() returns at once while data is
        // buffered, so wait a little; the caller's handshake deadline bounds the loop.
        tokio::time::sleep(PARTIAL_PREFIX_BACKOFF).await;
    }
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

/// Reads the first record (the ClientHello), answers with a protocol_version alert, closes.
pub(crate) async fn refuse_version(mut tcp: TcpStream) -> io::Result<()> {
    let mut header = [0u8; 5];
    tcp.read_exact(&mut header).await?;
    if header[0] == 0x16 {
        // A record body is at most 2^14 bytes plus expansion; the u16 length bounds it anyway.
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut body = vec![0u8; len];
        tcp.read_exact(&mut body).await?;
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
