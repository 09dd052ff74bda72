//! The TLS crate's glue to the test kit's echo server: an [`EchoServer`] whose handshake is
//! [`TlsAcceptor::accept`]. Everything else (PKI, settings, clients, openssl) is in
//! `scrapegate-testkit`.

use std::sync::Arc;
use std::time::Duration;

use scrapegate_model::TlsSettings;
use scrapegate_testkit::EchoServer;
use scrapegate_tls::{ConnInfo, TlsAcceptor, plan};

/// An echo server behind `acceptor`, with the given handshake deadline. Keep a clone of the
/// `Arc` to swap state while it serves.
pub async fn serve(
    acceptor: Arc<TlsAcceptor>,
    handshake_timeout: Duration,
) -> EchoServer<ConnInfo> {
    EchoServer::start(move |tcp| {
        let acceptor = Arc::clone(&acceptor);
        async move {
            acceptor
                .accept(tcp, handshake_timeout)
                .await
                .map_err(|e| e.reason())
        }
    })
    .await
}

/// An echo server for `settings` planned with HTTP/2 on, a 10 s handshake deadline; returns
/// the acceptor too.
pub async fn with(settings: &TlsSettings) -> (EchoServer<ConnInfo>, Arc<TlsAcceptor>) {
    let plan = plan(settings, true).expect("settings plan");
    let acceptor = Arc::new(TlsAcceptor::new(&plan).expect("acceptor"));
    (
        serve(Arc::clone(&acceptor), Duration::from_secs(10)).await,
        acceptor,
    )
}
