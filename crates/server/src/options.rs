//! Front-end tuning: timeouts, limits and the HTTP/1 and HTTP/2 connection builders made from
//! them.

use std::time::Duration;

use hyper_util::rt::TokioTimer;
use scrapegate_auth::AuthSettings;

use crate::front::streams::LocalStreams;
use crate::upstream::UpstreamOptions;

/// Front-end tuning. The defaults suit scraping: connections idle between scrapes stay open.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest time for a request's headers to arrive (and for the first request on a new
    /// connection).
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request before it is closed. Longer than any
    /// scrape interval, so each scrape reuses its connection.
    pub idle_timeout: Duration,
    /// Open connections beyond this are closed right after accept (per gateway listener; the
    /// telemetry and health listeners have budgets of their own).
    pub max_connections: usize,
    /// Connections one source (IPv4 address or IPv6 /64) may hold at once; 0: no cap.
    pub max_connections_per_source: usize,
    /// Idle timeout of a connection on which no request has passed authentication yet (a
    /// refused client's connection frees its slot soon instead of after `idle_timeout`).
    pub unauthenticated_idle_timeout: Duration,
    /// Largest request head (HTTP/1) or header list (HTTP/2); beyond it HTTP/1 gets a 431.
    pub max_header_bytes: usize,
    /// HTTP/2 PING interval, and how long to wait for the acknowledgement.
    pub h2_keepalive_interval: Duration,
    pub h2_keepalive_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Merge the flushes of pipelined HTTP/1 responses. Off by default: with it on, hyper
    /// 1.12 loses its automatic error responses (the 431 for an oversized head is never
    /// flushed before the connection closes). Pipelined requests are answered, in order,
    /// either way.
    pub pipeline_flush: bool,
    /// Park an HTTP/1 connection idle this long with its last response flushed: hyper's
    /// per-connection state (an 8 KiB read and an 8 KiB write buffer, 1.8 KB of connection)
    /// is dropped while the stream stays open, and rebuilt from the next request's first
    /// bytes. `None`: never park.
    pub http1_park_after: Option<Duration>,
    /// Write one access-log line per request (`--log.access`).
    pub access_log: bool,
    /// Test hook, never set by the binary: a request for exactly this path panics inside the
    /// proxy app, to show that a panic ends only its own connection.
    #[doc(hidden)]
    pub panic_on_path: Option<String>,
    /// The upstream client.
    pub upstream: UpstreamOptions,
    /// Caches, bcrypt pool and failure limiter of basic auth.
    pub auth: AuthSettings,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 4096,
            max_connections_per_source: 0,
            unauthenticated_idle_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            h2_keepalive_interval: Duration::from_secs(60),
            h2_keepalive_timeout: Duration::from_secs(20),
            h2_max_concurrent_streams: 250,
            pipeline_flush: false,
            // Back-to-back requests never wait this long, so they never pay for a rebuild
            // (a few allocations); against any scrape interval it is short, so an idle
            // connection holds the buffers for a small part of its idle time.
            http1_park_after: Some(Duration::from_secs(1)),
            access_log: false,
            panic_on_path: None,
            upstream: UpstreamOptions::default(),
            auth: AuthSettings::default(),
        }
    }
}

/// Room beyond `max_header_bytes` in hyper's HTTP/1 buffer (see [`builders`]).
const H1_HEAD_ROOM: usize = 16 * 1024;

/// Bytes an HTTP/2 stream may queue for sending beyond what the client's window admits.
const H2_SEND_BUF: usize = 16 * 1024;

/// The HTTP/1.1 connection builder. The protocol is chosen by ALPN, so no detection is
/// needed; hyper's own builders are used because hyper-util's auto builder does not expose
/// `max_header_size`, without which the HTTP/1 head limit is only approximate.
pub(crate) fn http1_builder(opts: &ServerOptions) -> hyper::server::conn::http1::Builder {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        // Off: it would also cut idle keep-alive connections; see `clock`.
        .header_read_timeout(None)
        .keep_alive(true)
        .half_close(false)
        .pipeline_flush(opts.pipeline_flush)
        .max_header_size(opts.max_header_bytes)
        // Room beyond the head limit, so a head just over it is read whole and answered 431
        // instead of leaving unread bytes that turn the close into a reset. hyper uses the
        // same bound for the write queue toward the client; what a response may queue there
        // is bounded more tightly by the gateway's own write window
        // (`front::request::H1_WRITE_WINDOW`), whatever this is.
        .max_buf_size(
            opts.max_header_bytes
                .saturating_add(H1_HEAD_ROOM)
                .max(2 * H1_HEAD_ROOM),
        );
    h1
}

/// The HTTP/2 connection builder, one per connection: `streams` runs the connection's
/// streams on its own task (see `front::streams`), and hyper has no way to change a builder's
/// executor.
pub(crate) fn http2_builder(
    opts: &ServerOptions,
    streams: LocalStreams,
) -> hyper::server::conn::http2::Builder<LocalStreams> {
    let mut h2 = hyper::server::conn::http2::Builder::new(streams);
    h2.timer(TokioTimer::new())
        .keep_alive_interval(Some(opts.h2_keepalive_interval))
        .keep_alive_timeout(opts.h2_keepalive_timeout)
        .max_concurrent_streams(opts.h2_max_concurrent_streams)
        // What a stream may have queued toward the client beyond its flow-control window
        // (hyper's default: 400 KiB per stream). A client that opens large windows and then
        // stops reading makes every stream fill this; the response body is not read from the
        // upstream while it is full.
        .max_send_buf_size(H2_SEND_BUF)
        .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX));
    h2
}
