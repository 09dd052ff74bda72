//! TLS handshake cost through scrapegate-tls's `ServerConfig`, in process over memory buffers
//! (no sockets): full handshakes with ECDSA P-256 and RSA-2048 server keys, and a TLS 1.3
//! resumed handshake (ticket). Client and server both run in the measured loop.
//!
//! The RSA key is generated at start with `openssl genpkey` (rcgen's ring backend cannot make
//! RSA keys, and no private key is kept in the repository); without openssl that bench is
//! skipped loudly.

use std::process::Command;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig, ServerConnection,
};
use scrapegate_config::{ClientAuth, TlsSettings, TlsVersion};
use scrapegate_tls::TlsAcceptor;

/// A CA and a server leaf for localhost signed by it, as PEM, plus the CA certificate.
fn pki(server_key: KeyPair) -> (CertificateDer<'static>, TlsSettings) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let settings = TlsSettings {
        cert_chain_pem: leaf.pem().into_bytes(),
        key_pem: server_key.serialize_pem().into_bytes().into(),
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
    };
    (ca_cert.der().clone(), settings)
}

fn server_config(settings: &TlsSettings) -> Arc<ServerConfig> {
    let (acceptor, _) = TlsAcceptor::new(settings, true).unwrap();
    acceptor.current().config.clone()
}

fn client_config(ca: &CertificateDer<'static>, resume: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut cfg = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        cfg.resumption = Resumption::disabled();
    }
    Arc::new(cfg)
}

/// Moves every pending record from one side to the other; true if anything moved.
fn pump_once(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    buf: &mut Vec<u8>,
) -> bool {
    let mut moved = false;
    while client.wants_write() {
        buf.clear();
        client.write_tls(buf).unwrap();
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().unwrap();
        }
        moved = true;
    }
    while server.wants_write() {
        buf.clear();
        server.write_tls(buf).unwrap();
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
        }
        moved = true;
    }
    moved
}

/// One complete connection: handshake, then delivery of the session tickets.
fn handshake(client_cfg: &Arc<ClientConfig>, server_cfg: &Arc<ServerConfig>) -> HandshakeKind {
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(client_cfg.clone(), name).unwrap();
    let mut server = ServerConnection::new(server_cfg.clone()).unwrap();
    let mut buf = Vec::with_capacity(16 * 1024);
    while pump_once(&mut client, &mut server, &mut buf) {}
    assert!(!client.is_handshaking() && !server.is_handshaking());
    client.handshake_kind().unwrap()
}

fn rsa_2048_key() -> Option<KeyPair> {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match out {
        Some(o) => Some(KeyPair::from_pem(std::str::from_utf8(&o.stdout).unwrap()).unwrap()),
        None => {
            eprintln!("SKIPPED: openssl not installed (RSA-2048 handshake bench)");
            None
        }
    }
}

fn tls_handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_handshake");

    let (ca, settings) = pki(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap());
    let server = server_config(&settings);
    let full = client_config(&ca, false);
    group.bench_function("full_ecdsa_p256", |b| {
        b.iter(|| assert_eq!(handshake(&full, &server), HandshakeKind::Full))
    });

    let resuming = client_config(&ca, true);
    assert_eq!(handshake(&resuming, &server), HandshakeKind::Full);
    assert_eq!(handshake(&resuming, &server), HandshakeKind::Resumed);
    group.bench_function("resumed_tls13_ecdsa_p256", |b| {
        b.iter(|| assert_eq!(handshake(&resuming, &server), HandshakeKind::Resumed))
    });

    if let Some(key) = rsa_2048_key() {
        let (ca, settings) = pki(key);
        let server = server_config(&settings);
        let full = client_config(&ca, false);
        group.bench_function("full_rsa_2048", |b| {
            b.iter(|| assert_eq!(handshake(&full, &server), HandshakeKind::Full))
        });
    }
    group.finish();
}

criterion_group!(benches, tls_handshake);
criterion_main!(benches);
