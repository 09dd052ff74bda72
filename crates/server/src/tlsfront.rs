//! The gate's view of TLS: a thin adapter over `scrapegate_tls::TlsAcceptor`.

use std::time::Duration;

use scrapegate_config::TlsSettings;
use scrapegate_tls::TlsAcceptor;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// What a finished handshake tells the connection task.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    pub alpn_h2: bool,
    pub resumed: bool,
}

/// The TLS front end of the gateway.
#[derive(Debug)]
pub struct TlsFront {
    acceptor: TlsAcceptor,
}

/// The stream a handshake yields.
pub type TlsIo = TlsStream<TcpStream>;

impl TlsFront {
    /// Builds the acceptor (including Go's serve-time HTTP/2 cipher check); returns it and
    /// load-time warnings.
    pub fn new(settings: &TlsSettings, http2: bool) -> Result<(Self, Vec<String>), String> {
        let (acceptor, warnings) = TlsAcceptor::new(settings, http2).map_err(|e| e.to_string())?;
        Ok((Self { acceptor }, warnings))
    }

    /// Swaps in new TLS settings; returns a one-line summary.
    pub fn swap(&self, settings: &TlsSettings) -> Result<String, String> {
        let report = self.acceptor.swap(settings).map_err(|e| e.to_string())?;
        let mut summary = format!("TLS generation {}", report.generation);
        if report.trust_reset {
            summary.push_str(", client trust changed: sessions reset");
        }
        for w in &report.warnings {
            summary.push_str("; ");
            summary.push_str(w);
        }
        Ok(summary)
    }

    /// `notAfter` of the served certificate (Unix seconds).
    pub fn cert_not_after(&self) -> Option<i64> {
        Some(self.acceptor.current().cert_not_after_unix)
    }

    /// Runs the handshake within `timeout`; the error is a metrics label.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<(TlsIo, Handshake), &'static str> {
        match self.acceptor.accept(tcp, timeout).await {
            Ok((io, info)) => Ok((
                io,
                Handshake {
                    alpn_h2: info.alpn_h2,
                    resumed: info.resumed,
                },
            )),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                Err(e.reason())
            }
        }
    }
}
