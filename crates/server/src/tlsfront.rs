//! The gate's view of TLS: a thin adapter over `scrapegate_tls::TlsAcceptor`.

use std::time::Duration;

use scrapegate_config::TlsSettings;
use tokio::net::TcpStream;

/// What a finished handshake tells the connection task.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    pub alpn_h2: bool,
    pub resumed: bool,
}

/// The TLS front end of the gateway.
#[derive(Debug)]
pub struct TlsFront {}

/// Placeholder stream type until the TLS crate is integrated.
pub type TlsIo = TcpStream;

impl TlsFront {
    /// Builds the acceptor; returns it and load-time warnings.
    pub fn new(_settings: &TlsSettings, _http2: bool) -> Result<(Self, Vec<String>), String> {
        Err("TLS: the tls crate is not integrated yet".into())
    }

    /// Swaps in new TLS settings; returns a one-line summary.
    pub fn swap(&self, _settings: &TlsSettings) -> Result<String, String> {
        Err("TLS: the tls crate is not integrated yet".into())
    }

    /// `notAfter` of the served certificate (Unix seconds), if known.
    pub fn cert_not_after(&self) -> Option<i64> {
        None
    }

    /// Runs the handshake within `timeout`; the error is a metrics label.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        _timeout: Duration,
    ) -> Result<(TlsIo, Handshake), &'static str> {
        drop(tcp);
        Err("unavailable")
    }
}
