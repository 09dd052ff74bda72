//! Swapping state at runtime: resumption across certificate-only rotations and its reset on
//! trust changes, open connections surviving a swap, and the handshake deadline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{serve, with};
use rustls::{AlertDescription, HandshakeKind};
use scrapegate_model::{ClientAuth, TlsSettings};
use scrapegate_testkit::pki::{Ca, Eku, KeyAlg, dns};
use scrapegate_testkit::tls_client::{
    ClientOpts, accepted, assert_alert, client_config, echo, round_trip,
};
use scrapegate_testkit::{DEADLINE, EchoServer, tls_settings as settings};
use scrapegate_tls::{ConnInfo, TlsAcceptor, plan};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

struct Mtls {
    server_ca: Ca,
    client_ca: Ca,
    settings: TlsSettings,
    client: Arc<rustls::ClientConfig>,
}

/// RequireAndVerifyClientCert, SANs [alpha], a TLS 1.3 client holding an `alpha` certificate.
fn mtls() -> Mtls {
    let server_ca = Ca::new("Server Root");
    let client_ca = Ca::new("Client Root");
    let mut settings = settings(&server_ca.server(KeyAlg::EcdsaP256));
    settings.client_auth = ClientAuth::RequireAndVerifyClientCert;
    settings.client_cas = Some(vec![client_ca.cert_der.clone()]);
    settings.client_allowed_sans = Some(vec!["alpha".into()]);
    let leaf = client_ca.client("alpha", vec![dns("alpha")], vec![Eku::ClientAuth]);
    let opts = ClientOpts {
        cert: Some(leaf),
        tls13_only: true,
        ..Default::default()
    };
    let client = client_config(&server_ca.cert_der, &opts);
    Mtls {
        server_ca,
        client_ca,
        settings,
        client,
    }
}

/// First connection: full handshake, and the client keeps the tickets it read.
async fn first_connection(server: &mut EchoServer<ConnInfo>, m: &Mtls) {
    let s = round_trip(server.addr, m.client.clone()).await.unwrap();
    assert_eq!(s.get_ref().1.handshake_kind(), Some(HandshakeKind::Full));
    assert!(!server.outcome().await.unwrap().resumed);
}

#[tokio::test]
async fn ticket_resumes_after_certificate_only_rotation() {
    let m = mtls();
    let (mut server, acceptor) = with(&m.settings).await;
    first_connection(&mut server, &m).await;

    let mut rotated = m.settings.clone();
    let new_leaf = m.server_ca.server(KeyAlg::EcdsaP256);
    rotated.certificate = new_leaf.server_certificate();
    let report = acceptor.swap(&rotated).unwrap();
    assert!(!report.trust_reset);
    assert_eq!(report.generation, 2);

    let s = round_trip(server.addr, m.client.clone()).await.unwrap();
    assert_eq!(s.get_ref().1.handshake_kind(), Some(HandshakeKind::Resumed));
    let info = server.outcome().await.unwrap();
    assert!(info.resumed);
    assert_eq!(info.generation, 2);
    let id = info.client.expect("identity restored from the ticket");
    assert_eq!(id.sans, vec!["alpha".to_string()]);
}

#[tokio::test]
async fn ticket_refused_after_san_list_change() {
    let m = mtls();
    let (mut server, acceptor) = with(&m.settings).await;
    first_connection(&mut server, &m).await;

    let mut changed = m.settings.clone();
    changed.client_allowed_sans = Some(vec!["beta".into()]);
    assert!(acceptor.swap(&changed).unwrap().trust_reset);

    // The old ticket no longer decrypts: full handshake, and the verifier refuses alpha.
    assert_alert(
        round_trip(server.addr, m.client.clone()).await,
        AlertDescription::BadCertificate,
    );
    assert_eq!(server.refused().await, "bad_certificate");
}

#[tokio::test]
async fn ticket_refused_after_ca_change() {
    let m = mtls();
    let (mut server, acceptor) = with(&m.settings).await;
    first_connection(&mut server, &m).await;

    let mut changed = m.settings.clone();
    changed.client_cas = Some(vec![Ca::new("Replacement Root").cert_der]);
    assert!(acceptor.swap(&changed).unwrap().trust_reset);

    assert_alert(
        round_trip(server.addr, m.client.clone()).await,
        AlertDescription::UnknownCA,
    );
    assert_eq!(server.refused().await, "unknown_ca");
}

#[tokio::test]
async fn ticket_refused_after_mode_change_tls12_too() {
    let m = mtls();
    // TLS 1.2 resumption (tickets and session IDs) is reset as well.
    let leaf = m
        .client_ca
        .client("alpha", vec![dns("alpha")], vec![Eku::ClientAuth]);
    let opts = ClientOpts {
        cert: Some(leaf),
        tls12_only: true,
        ..Default::default()
    };
    let client = client_config(&m.server_ca.cert_der, &opts);
    let (mut server, acceptor) = with(&m.settings).await;
    accepted(&mut server, client.clone()).await;
    // Control: without a change, TLS 1.2 resumes.
    let s = round_trip(server.addr, client.clone()).await.unwrap();
    assert_eq!(s.get_ref().1.handshake_kind(), Some(HandshakeKind::Resumed));
    server.outcome().await.unwrap();

    let mut changed = m.settings.clone();
    changed.client_allowed_sans = Some(vec![]);
    assert!(acceptor.swap(&changed).unwrap().trust_reset);
    assert_alert(
        round_trip(server.addr, client).await,
        AlertDescription::BadCertificate,
    );
    assert_eq!(server.refused().await, "bad_certificate");
}

#[tokio::test]
async fn swap_keeps_open_connection_and_serves_new_cert() {
    let ca = Ca::new("Root");
    let old = ca.server(KeyAlg::EcdsaP256);
    let (mut server, acceptor) = with(&settings(&old)).await;
    let cfg = client_config(&ca.cert_der, &ClientOpts::default());
    let mut kept = round_trip(server.addr, cfg.clone()).await.unwrap();
    assert_eq!(server.outcome().await.unwrap().generation, 1);

    let new = ca.server(KeyAlg::EcdsaP384);
    let report = acceptor.swap(&settings(&new)).unwrap();
    assert_eq!(report.generation, 2);
    assert_eq!(
        acceptor.current().key_type,
        scrapegate_tls::KeyType::EcdsaP384
    );

    // The keep-alive connection keeps working on its old parameters.
    echo(&mut kept, b"still here").await.unwrap();
    assert_eq!(
        kept.get_ref().1.peer_certificates().unwrap()[0],
        old.cert_der
    );

    // A fresh client (no session to resume) gets the new certificate.
    let fresh_cfg = client_config(&ca.cert_der, &ClientOpts::default());
    let fresh = round_trip(server.addr, fresh_cfg).await.unwrap();
    assert_eq!(
        fresh.get_ref().1.peer_certificates().unwrap()[0],
        new.cert_der
    );
    assert_eq!(server.outcome().await.unwrap().generation, 2);
}

#[tokio::test]
async fn failed_swap_keeps_last_good_state() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let (mut server, acceptor) = with(&settings(&leaf)).await;
    // A mismatched key never gets here (the config load refuses it); what a swap can still
    // refuse is a plan: here Go's HTTP/2 cipher rule, with a new certificate besides.
    let mut broken = settings(&ca.server(KeyAlg::EcdsaP256));
    broken.cipher_suites = vec![scrapegate_model::CipherSuite::EcdheEcdsaAes256GcmSha384];
    broken.max_version = scrapegate_model::TlsVersion::Tls12;
    let err = acceptor.swap(&broken).unwrap_err().to_string();
    assert!(
        err.contains("missing an HTTP/2-required AES_128_GCM_SHA256 cipher"),
        "{err}"
    );
    assert_eq!(acceptor.current().generation, 1);
    round_trip(
        server.addr,
        client_config(&ca.cert_der, &ClientOpts::default()),
    )
    .await
    .unwrap();
    assert_eq!(server.outcome().await.unwrap().generation, 1);
}

/// A client that connects and never sends a ClientHello is closed after the handshake timeout
/// and does not delay anybody else's handshake.
#[tokio::test]
async fn silent_client_times_out_without_blocking_others() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let acceptor = TlsAcceptor::new(&plan(&settings(&leaf), true).unwrap()).unwrap();
    let mut server = serve(Arc::new(acceptor), Duration::from_millis(800)).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Others complete while the silent one is pending: their outcomes arrive first.
    for _ in 0..3 {
        round_trip(
            server.addr,
            client_config(&ca.cert_der, &ClientOpts::default()),
        )
        .await
        .unwrap();
        assert!(
            server.outcome().await.is_ok(),
            "a good client was not served first"
        );
    }
    assert_eq!(server.refused().await, "timeout");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, silent.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the silent connection is closed");
}

/// Stalling halfway through the ClientHello is bounded by the same deadline.
#[tokio::test]
async fn partial_client_hello_times_out() {
    use tokio::io::AsyncWriteExt;
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let acceptor = TlsAcceptor::new(&plan(&settings(&leaf), true).unwrap()).unwrap();
    let mut server = serve(Arc::new(acceptor), Duration::from_millis(300)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    assert_eq!(server.refused().await, "timeout");
}
