//! TLS handshake cost through scrapegate-tls's `ServerConfig`, in process over memory buffers
//! (no sockets): full handshakes with ECDSA P-256 and RSA-2048 server keys, and a TLS 1.3
//! resumed handshake (ticket). Client and server both run in the measured loop.
//!
//! The RSA key is generated at start with `openssl genpkey` (rcgen's ring backend cannot make
//! RSA keys, and no private key is kept in the repository); without openssl that bench is
//! skipped loudly.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig, ServerConnection,
};
use scrapegate_model::TlsSettings;
use scrapegate_testkit::pki::KeyAlg;
use scrapegate_testkit::{Ca, tls_settings};
use scrapegate_tls::TlsAcceptor;

/// A CA and a server leaf for localhost of `key` signed by it: the CA certificate and the
/// settings serving the leaf.
fn pki(key: KeyAlg) -> (CertificateDer<'static>, TlsSettings) {
    let ca = Ca::new("bench CA");
    let leaf = ca.server(key);
    (ca.cert_der.clone(), tls_settings(&leaf))
}

fn server_config(settings: &TlsSettings) -> Arc<ServerConfig> {
    let plan = scrapegate_tls::plan(settings, true).unwrap();
    TlsAcceptor::new(&plan).unwrap().current().config.clone()
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

fn tls_handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_handshake");

    let (ca, settings) = pki(KeyAlg::EcdsaP256);
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

    let (ca, settings) = pki(KeyAlg::Rsa2048);
    let server = server_config(&settings);
    let full = client_config(&ca, false);
    group.bench_function("full_rsa_2048", |b| {
        b.iter(|| assert_eq!(handshake(&full, &server), HandshakeKind::Full))
    });
    group.finish();
}

criterion_group!(benches, tls_handshake);
criterion_main!(benches);
