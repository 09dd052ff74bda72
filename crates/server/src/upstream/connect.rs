//! Connections to upstreams that are not plain TCP: TLS (rustls, ALPN h2 or HTTP/1.1) over
//! TCP or a unix socket, or plain HTTP over a unix socket. A hyper-util connector, so the
//! legacy client pools and reuses these connections as it does TCP ones.
//!
//! Every failure is a [`ConnectError`] whose kind becomes the `kind` label of
//! `scrapegate_upstream_errors_total` (`tls` or `unreachable`); its reason is logged here, once
//! per failed connection, with the route.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use scrapegate_tls::UpstreamClientTls;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_rustls::TlsConnector;

/// What kind of failure a connection attempt ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectKind {
    /// Nothing listening, refused, no such socket, no permission, connect timeout.
    Unreachable,
    /// The TLS handshake failed (unknown CA, name mismatch, expired, client certificate
    /// refused) or did not finish within the connect timeout.
    Tls,
}

/// A failed connection attempt; the text is the reason as logged.
#[derive(Debug)]
pub struct ConnectError {
    /// The metrics label's kind.
    pub kind: ConnectKind,
    reason: String,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ConnectError {}

/// Where a route's connections go and how they are secured.
#[derive(Clone)]
pub(crate) struct Connector {
    /// TCP to the URL's host and port (unless `unix` is set).
    tcp: HttpConnector,
    /// A unix socket to connect to instead.
    unix: Option<Arc<Path>>,
    /// TLS on top, when the upstream is `https://`.
    tls: Option<(TlsConnector, UpstreamClientTls)>,
    /// Bounds the connect and the handshake together.
    timeout: Duration,
    /// The route, for the log.
    route: Arc<str>,
    /// `scrapegate_upstream_tls_handshakes_total{route}`.
    handshakes: Counter,
}

impl Connector {
    /// A connector for one route.
    pub(crate) fn new(
        unix: Option<&Path>,
        tls: Option<UpstreamClientTls>,
        timeout: Duration,
        route: Arc<str>,
        handshakes: Counter,
    ) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        // The scheme is https for TLS routes; TLS is added here, not by the TCP connector.
        tcp.enforce_http(false);
        Self {
            tcp,
            unix: unix.map(Arc::from),
            tls: tls.map(|t| (TlsConnector::from(Arc::clone(&t.config)), t)),
            timeout,
            route,
            handshakes,
        }
    }

    async fn connect(mut self, uri: Uri) -> Result<Conn, ConnectError> {
        let stream: Box<dyn Io> = match &self.unix {
            Some(path) => Box::new(
                UnixStream::connect(path)
                    .await
                    .map_err(|e| self.failed(ConnectKind::Unreachable, unix_reason(path, &e)))?,
            ),
            None => {
                let tcp = tower_service::Service::call(&mut self.tcp, uri)
                    .await
                    .map_err(|e| self.failed(ConnectKind::Unreachable, e.to_string()))?;
                Box::new(tcp.into_inner())
            }
        };
        let Some((connector, tls)) = &self.tls else {
            return Ok(Conn::new(stream, false, None));
        };
        self.handshakes.inc();
        let stream = connector
            .connect(tls.server_name.clone(), stream)
            .await
            .map_err(|e| self.failed(ConnectKind::Tls, tls_reason(&e)))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let watch = TlsWatch {
            route: Arc::clone(&self.route),
            failure: TlsFailure::default(),
            answered: false,
        };
        Ok(Conn::new(Box::new(stream), h2, Some(watch)))
    }

    fn failed(&self, kind: ConnectKind, reason: String) -> ConnectError {
        match kind {
            ConnectKind::Tls => {
                tracing::warn!(route = %self.route, reason = %reason, "upstream TLS handshake failed");
            }
            ConnectKind::Unreachable => {
                tracing::warn!(route = %self.route, reason = %reason, "upstream connection failed");
            }
        }
        ConnectError { kind, reason }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let timeout = this.timeout;
            let kind = if this.tls.is_some() {
                ConnectKind::Tls
            } else {
                ConnectKind::Unreachable
            };
            let failed = this.clone();
            match tokio::time::timeout(timeout, this.connect(uri)).await {
                Ok(result) => result,
                Err(_) => Err(failed.failed(
                    kind,
                    format!("no connection within the connect timeout ({timeout:?})"),
                )),
            }
        })
    }
}

/// Why a unix socket could not be reached, naming the socket; permission problems say so.
fn unix_reason(path: &Path, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "permission denied on unix socket {} (the gateway's user needs write access to it)",
            path.display()
        ),
        io::ErrorKind::NotFound => format!("unix socket {} does not exist", path.display()),
        io::ErrorKind::ConnectionRefused => format!(
            "connection refused on unix socket {} (nothing is listening)",
            path.display()
        ),
        _ => format!("unix socket {}: {e}", path.display()),
    }
}

/// The rustls error inside a failed handshake, in words.
fn tls_reason(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// What a connection is made of: a TCP or unix stream, maybe inside TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Why a TLS connection failed after its handshake but before the upstream sent any data, if
/// it did. With TLS 1.3 the client finishes its handshake first and the server's verdict on
/// the client certificate comes after: an alert on the first read, or (when the server's
/// close resets the connection and the alert is lost) just a broken pipe or a closed
/// connection. Either way the request's error only says "connection closed" (HTTP/2) or
/// wraps an I/O error (HTTP/1.1), so the connection notes it here; the slot travels in the
/// connection's info, where [`super::connect_failure`] finds it. A connection that has
/// delivered data fails as any other (`unreachable`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFailure(Arc<OnceLock<String>>);

impl TlsFailure {
    /// The TLS error, once one happened.
    pub(crate) fn reason(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// A TLS connection's route and failure slot.
struct TlsWatch {
    route: Arc<str>,
    failure: TlsFailure,
    /// True once the upstream has sent application data.
    answered: bool,
}

impl TlsWatch {
    /// Notes a failure of a connection that has not answered yet: the rustls error when
    /// there is one, else what it most likely is.
    fn failed(&self, error: Option<&io::Error>) {
        if self.answered {
            return;
        }
        let reason = match error
            .and_then(|e| e.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            Some(tls) => tls.to_string(),
            None => format!(
                "the upstream closed the connection right after the TLS handshake, before \
                 answering ({}); with TLS 1.3 this is how a refused or missing client \
                 certificate shows",
                error.map_or_else(|| "end of stream".to_owned(), ToString::to_string)
            ),
        };
        if self.failure.0.set(reason).is_ok() {
            tracing::warn!(
                route = %self.route,
                reason = self.failure.reason().unwrap_or_default(),
                "upstream TLS connection failed"
            );
        }
    }
}

/// One upstream connection, and whether ALPN chose HTTP/2 on it.
pub(crate) struct Conn {
    io: TokioIo<Watched>,
    h2: bool,
    failure: Option<TlsFailure>,
}

impl Conn {
    fn new(stream: Box<dyn Io>, h2: bool, watch: Option<TlsWatch>) -> Self {
        Self {
            failure: watch.as_ref().map(|w| w.failure.clone()),
            io: TokioIo::new(Watched {
                inner: stream,
                watch,
            }),
            h2,
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let mut connected = Connected::new();
        if let Some(failure) = &self.failure {
            connected = connected.extra(failure.clone());
        }
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

/// The stream, with a TLS connection's failures noted until the upstream first answers.
struct Watched {
    inner: Box<dyn Io>,
    watch: Option<TlsWatch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(watch) = this.watch.as_mut().filter(|w| !w.answered) else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        match &result {
            Ok(()) if buf.filled().len() > before => watch.answered = true,
            Ok(()) if buf.remaining() > 0 => watch.failed(None),
            Ok(()) => {}
            Err(e) => watch.failed(Some(e)),
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = ready!(Pin::new(&mut self.inner).poll_write(cx, buf));
        if let (Err(e), Some(watch)) = (&result, &self.watch) {
            watch.failed(Some(e));
        }
        Poll::Ready(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs));
        if let (Err(e), Some(watch)) = (&result, &self.watch) {
            watch.failed(Some(e));
        }
        Poll::Ready(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
