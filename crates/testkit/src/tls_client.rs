//! rustls clients for TLS tests: chosen protocol versions, cipher suites, key-exchange
//! groups, client certificate and ALPN; connecting with a deadline; one echo round trip; and
//! telling which alert a failed handshake received.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::echo::EchoServer;
use crate::pki::Leaf;
use crate::wait::DEADLINE;

/// What a test client offers. The default is rustls' defaults: TLS 1.3 and 1.2, every suite
/// and group of the aws-lc-rs provider, no client certificate, no ALPN.
#[derive(Clone, Default)]
pub struct ClientOpts {
    /// Offer TLS 1.2 only.
    pub tls12_only: bool,
    /// Offer TLS 1.3 only.
    pub tls13_only: bool,
    /// Offer these suites only.
    pub suites: Option<Vec<SupportedCipherSuite>>,
    /// Offer these key-exchange groups only.
    pub groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    /// Present this client certificate.
    pub cert: Option<Leaf>,
    /// ALPN protocols, in preference order.
    pub alpn: Vec<Vec<u8>>,
}

/// A client configuration trusting `trust` only.
pub fn client_config(trust: &CertificateDer<'static>, opts: &ClientOpts) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(s) = &opts.suites {
        provider.cipher_suites = s.clone();
    }
    if let Some(g) = &opts.groups {
        provider.kx_groups = g.clone();
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = if opts.tls12_only {
        &[&rustls::version::TLS12]
    } else if opts.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut roots = RootCertStore::empty();
    roots.add(trust.clone()).expect("trust anchor");
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots);
    let mut cfg = match &opts.cert {
        Some(c) => builder
            .with_client_auth_cert(vec![c.cert_der.clone()], c.key_der())
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = opts.alpn.clone();
    Arc::new(cfg)
}

/// A client-side TLS stream.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Connects to `addr` as `localhost` and completes the client side of the handshake.
pub async fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>) -> io::Result<ClientStream> {
    handshake(TcpStream::connect(addr).await?, cfg).await
}

/// Completes the client side of a handshake as `localhost` on a connected `tcp` (one from
/// [`crate::net::tcp_from`], say), bounded by [`DEADLINE`].
pub async fn handshake(tcp: TcpStream, cfg: Arc<ClientConfig>) -> io::Result<ClientStream> {
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(
        DEADLINE,
        tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client handshake deadline"))?
}

/// Writes `msg` and reads it back (from an echo server). TLS 1.3 client-certificate failures
/// surface here, after the client's side of the handshake finished.
pub async fn echo(stream: &mut ClientStream, msg: &[u8]) -> io::Result<()> {
    stream.write_all(msg).await?;
    stream.flush().await?;
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut back))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "echo deadline"))??;
    assert_eq!(back, msg);
    Ok(())
}

/// [`connect`] plus one [`echo`] round trip.
pub async fn round_trip(addr: SocketAddr, cfg: Arc<ClientConfig>) -> io::Result<ClientStream> {
    let mut s = connect(addr, cfg).await?;
    echo(&mut s, b"ping").await?;
    Ok(s)
}

/// One [`round_trip`] through `server` that must succeed; returns the server's view of it.
pub async fn accepted<I: Send + 'static>(server: &mut EchoServer<I>, cfg: Arc<ClientConfig>) -> I {
    round_trip(server.addr, cfg)
        .await
        .expect("handshake should succeed");
    server.outcome().await.expect("server should accept")
}

/// One [`round_trip`] through `server` that must fail with `alert` on the client; returns the
/// server's reason.
pub async fn refused<I: Send + std::fmt::Debug + 'static>(
    server: &mut EchoServer<I>,
    cfg: Arc<ClientConfig>,
    alert: rustls::AlertDescription,
) -> &'static str {
    assert_alert(round_trip(server.addr, cfg).await, alert);
    server.refused().await
}

/// The alert a rustls client received, if that is what the error was.
pub fn alert_of(e: &io::Error) -> Option<rustls::AlertDescription> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(a) => Some(*a),
        _ => None,
    }
}

/// Asserts the client failed with the alert `want`.
pub fn assert_alert<T>(r: io::Result<T>, want: rustls::AlertDescription) {
    match r {
        Ok(_) => panic!("expected alert {want:?}, connection succeeded"),
        Err(e) => assert_eq!(alert_of(&e), Some(want), "error was: {e}"),
    }
}

/// A server-certificate verifier that accepts anything (for tests that look at what the
/// server sends rather than whether it is trusted); signatures are still checked.
#[derive(Debug)]
pub struct AcceptAnyServerCert(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
