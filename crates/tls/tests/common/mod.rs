//! Shared test fixtures: rcgen PKI, an echo server over `TlsAcceptor`, rustls clients and an
//! `openssl s_client` runner. Everything listens on 127.0.0.1 only.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType, SignatureAlgorithm,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
};
use scrapegate_config::{ClientAuth, TlsSettings, TlsVersion};
use scrapegate_tls::{AcceptError, ConnInfo, TlsAcceptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Generous upper bound for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A certificate with its key, in PEM and DER.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pkcs8: Vec<u8>,
}

impl Leaf {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// A CA that issues server and client certificates.
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

pub fn new_key(alg: &'static SignatureAlgorithm) -> KeyPair {
    if alg == &rcgen::PKCS_RSA_SHA256 {
        // rcgen's ring backend cannot generate RSA keys; aws-lc-rs can.
        use aws_lc_rs::encoding::AsDer;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = rsa.as_der().unwrap();
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der.as_ref().to_vec()), alg)
            .unwrap()
    } else {
        KeyPair::generate_for(alg).unwrap()
    }
}

fn leaf_of(cert: rcgen::Certificate, key: &KeyPair) -> Leaf {
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_pkcs8: key.serialize_der(),
    }
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = new_key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost / 127.0.0.1.
    pub fn server(&self, alg: &'static SignatureAlgorithm) -> Leaf {
        let key = new_key(alg);
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_of(params.signed_by(&key, &self.issuer).unwrap(), &key)
    }

    /// A client certificate with the given SANs and EKUs.
    pub fn client(&self, cn: &str, sans: Vec<SanType>, ekus: Vec<ExtendedKeyUsagePurpose>) -> Leaf {
        let key = new_key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = ekus;
        leaf_of(params.signed_by(&key, &self.issuer).unwrap(), &key)
    }
}

/// Like the toolkit's `client_selfsigned.pem`: self-signed, CA:TRUE, EKU clientAuth, P-384.
pub fn self_signed_ca_client(cn: &str, sans: Vec<SanType>) -> Leaf {
    self_signed_ca_client_until(cn, sans, 4000)
}

pub fn self_signed_ca_client_until(cn: &str, sans: Vec<SanType>, not_after_year: i32) -> Leaf {
    let key = new_key(&rcgen::PKCS_ECDSA_P384_SHA384);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
    leaf_of(params.self_signed(&key).unwrap(), &key)
}

pub fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// Settings with Go's defaults for everything but the certificate.
pub fn settings(server: &Leaf) -> TlsSettings {
    TlsSettings {
        cert_chain_pem: server.cert_pem.clone().into_bytes(),
        key_pem: Zeroizing::new(server.key_pem.clone().into_bytes()),
        client_ca_pem: None,
        client_auth: ClientAuth::NoClientCert,
        client_allowed_sans: None,
        min_version: TlsVersion::Default,
        max_version: TlsVersion::Default,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
        prefer_server_cipher_suites: false,
        cert_file: None,
        key_file: None,
        client_ca_file: None,
    }
}

/// Server-side outcome of one connection.
pub type Outcome = Result<ConnInfo, &'static str>;

/// An echo server: every accepted TLS connection echoes what it reads.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub acceptor: Arc<TlsAcceptor>,
    pub outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl EchoServer {
    pub async fn start(acceptor: TlsAcceptor, handshake_timeout: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = Arc::new(acceptor);
        let (tx, outcomes) = mpsc::unbounded_channel();
        let acc = acceptor.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acc = acc.clone();
                let tx = tx.clone();
                // As the server does: the handshake runs in the connection's own task.
                tokio::spawn(async move {
                    match acc.accept(tcp, handshake_timeout).await {
                        Ok((mut tls, info)) => {
                            let _ = tx.send(Ok(info));
                            let mut buf = [0u8; 1024];
                            loop {
                                match tls.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if tls.write_all(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                        let _ = tls.flush().await;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.reason()));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            acceptor,
            outcomes,
        }
    }

    pub async fn with(settings: &TlsSettings) -> Self {
        let (acceptor, _) = TlsAcceptor::new(settings, true).unwrap();
        Self::start(acceptor, Duration::from_secs(10)).await
    }

    /// The next server-side outcome.
    pub async fn outcome(&mut self) -> Outcome {
        tokio::time::timeout(DEADLINE, self.outcomes.recv())
            .await
            .expect("server outcome in time")
            .expect("server running")
    }
}

/// What a test client offers.
#[derive(Clone, Default)]
pub struct ClientOpts {
    pub tls12_only: bool,
    pub tls13_only: bool,
    pub suites: Option<Vec<SupportedCipherSuite>>,
    pub groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    pub cert: Option<Leaf>,
    pub alpn: Vec<Vec<u8>>,
}

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
    roots.add(trust.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match &opts.cert {
        Some(c) => builder
            .with_client_auth_cert(vec![c.cert_der.clone()], c.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = opts.alpn.clone();
    Arc::new(cfg)
}

pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Connects and completes the client side of the handshake.
pub async fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>) -> io::Result<ClientStream> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(
        DEADLINE,
        tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client handshake deadline"))?
}

/// Writes `msg` and reads it back. TLS 1.3 client-cert failures surface here.
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

/// Connect + one echo round trip.
pub async fn round_trip(addr: SocketAddr, cfg: Arc<ClientConfig>) -> io::Result<ClientStream> {
    let mut s = connect(addr, cfg).await?;
    echo(&mut s, b"ping").await?;
    Ok(s)
}

/// The alert a rustls client received, if that is what the error was.
pub fn alert_of(e: &io::Error) -> Option<rustls::AlertDescription> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(a) => Some(*a),
        _ => None,
    }
}

/// Asserts the client failed with the given alert.
pub fn assert_alert<T>(r: io::Result<T>, want: rustls::AlertDescription) {
    match r {
        Ok(_) => panic!("expected alert {want:?}, connection succeeded"),
        Err(e) => assert_eq!(alert_of(&e), Some(want), "error was: {e}"),
    }
}

/// Accepts any server certificate (for tests that look at what the server sends).
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

/// `openssl` if installed; otherwise prints the loud skip line.
pub fn openssl() -> Option<&'static str> {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Some("openssl")
    } else {
        eprintln!("SKIPPED: openssl not installed");
        None
    }
}

/// Runs `openssl s_client` against `addr` with extra args; returns stdout+stderr.
/// stdin is closed at once, so s_client exits after the handshake (or its failure).
pub async fn s_client(addr: SocketAddr, dir: &Path, ca_pem: &str, args: &[&str]) -> String {
    let ca = dir.join("s_client_ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .arg("-servername")
        .arg("localhost")
        .arg("-CAfile")
        .arg(&ca)
        .args(args)
        .stdin(Stdio::null());
    let out = tokio::time::timeout(
        DEADLINE,
        tokio::task::spawn_blocking(move || cmd.output().unwrap()),
    )
    .await
    .expect("s_client in time")
    .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Writes a leaf's cert and key to files for s_client.
pub fn write_leaf(dir: &Path, name: &str, leaf: &Leaf) -> (String, String) {
    let c = dir.join(format!("{name}.crt"));
    let k = dir.join(format!("{name}.key"));
    std::fs::write(&c, &leaf.cert_pem).unwrap();
    std::fs::write(&k, &leaf.key_pem).unwrap();
    (c.display().to_string(), k.display().to_string())
}

/// Waits for a server outcome that is an error and returns its reason.
pub async fn expect_refused(server: &mut EchoServer) -> &'static str {
    match server.outcome().await {
        Ok(info) => panic!("server accepted: {info:?}"),
        Err(r) => r,
    }
}

pub fn _unused(_: AcceptError) {}
