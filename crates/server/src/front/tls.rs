//! The front end's view of TLS: the acceptor, its handshake outcome as a metrics label, and
//! the two halves of a TLS reload.

use std::sync::Arc;
use std::time::Duration;

use scrapegate_tls::{PreparedTls, SwapReport, TlsAcceptor, TlsError, TlsPlan};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// What a finished handshake tells the connection task.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    pub(crate) alpn_h2: bool,
    pub(crate) resumed: bool,
    /// SANs of a verified client certificate (see `Origin::client_sans`).
    pub(crate) client_sans: Option<Arc<[String]>>,
}

/// The TLS front end of the gateway.
#[derive(Debug)]
pub(crate) struct TlsFront {
    acceptor: TlsAcceptor,
}

/// The stream a handshake yields.
pub(crate) type TlsIo = TlsStream<TcpStream>;

impl TlsFront {
    /// Builds the acceptor from a plan.
    pub(crate) fn new(plan: &TlsPlan) -> Result<Self, TlsError> {
        Ok(Self {
            acceptor: TlsAcceptor::new(plan)?,
        })
    }

    /// Builds the next TLS state without installing it.
    pub(crate) fn prepare(&self, plan: &TlsPlan) -> Result<PreparedTls, TlsError> {
        self.acceptor.prepare(plan)
    }

    /// Installs a prepared TLS state for new handshakes.
    pub(crate) fn commit(&self, prepared: PreparedTls) -> SwapReport {
        self.acceptor.commit(prepared)
    }

    /// Each client CRL in force and its `nextUpdate` (Unix seconds).
    pub(crate) fn crl_next_updates(&self) -> Vec<(std::path::PathBuf, Option<i64>)> {
        self.acceptor.current().crl_next_updates().to_vec()
    }

    /// `notAfter` of the served certificate (Unix seconds).
    pub(crate) fn cert_not_after(&self) -> i64 {
        self.acceptor.current().cert_not_after_unix
    }

    /// Runs the handshake within `timeout`; the error is a metrics label.
    pub(crate) async fn accept(
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
                    client_sans: info
                        .client
                        .filter(|c| c.verified)
                        .map(|c| Arc::from(c.sans)),
                },
            )),
            Err(e) => {
                tracing::debug!(err = %e, "TLS handshake failed");
                Err(e.reason())
            }
        }
    }
}
