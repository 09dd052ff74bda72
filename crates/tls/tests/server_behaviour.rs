//! The TLS cases of exporter-toolkit's `TestServerBehaviour` (spec §7.3), with rcgen
//! certificates, a rustls client and `openssl s_client`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{serve, with};
use rustls::AlertDescription;
use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};
use scrapegate_model::{CipherSuite, Curve, TlsSettings, TlsVersion};
use scrapegate_testkit::pki::{Ca, KeyAlg, Leaf};
use scrapegate_testkit::tls_client::{
    ClientOpts, accepted, assert_alert, client_config, connect, round_trip,
};
use scrapegate_testkit::tools::s_client;
use scrapegate_testkit::{DEADLINE, openssl, tls_settings as settings};
use scrapegate_tls::{PLAIN_HTTP_RESPONSE, TlsAcceptor, kx_p521, plan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ecdsa_server() -> (Ca, Leaf) {
    let ca = Ca::new("Test Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    (ca, leaf)
}

fn rsa_server() -> (Ca, Leaf) {
    let ca = Ca::new("Test Root");
    let leaf = ca.server(KeyAlg::Rsa2048);
    (ca, leaf)
}

/// Case 3: plain HTTP on the TLS port gets Go's exact 400 text.
#[tokio::test]
async fn plain_http_gets_go_400() {
    let (_, leaf) = ecdsa_server();
    let mut server = with(&settings(&leaf)).await.0;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, PLAIN_HTTP_RESPONSE);
    assert_eq!(server.refused().await, "plain_http");
}

/// A method prefix split over two segments is still recognised.
#[tokio::test]
async fn plain_http_split_prefix() {
    let (_, leaf) = ecdsa_server();
    let mut server = with(&settings(&leaf)).await.0;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(b"PO").await.unwrap();
    tcp.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await; // forces two segments, not sync
    tcp.write_all(b"ST /x HTTP/1.0\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, PLAIN_HTTP_RESPONSE);
    assert_eq!(server.refused().await, "plain_http");
}

/// Cases 4/5: a TLS client with defaults succeeds; ALPN picks h2 when offered.
#[tokio::test]
async fn default_tls_client_succeeds_with_h2() {
    let (ca, leaf) = ecdsa_server();
    let mut server = with(&settings(&leaf)).await.0;
    let opts = ClientOpts {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    };
    let info = accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
    assert!(info.alpn_h2);
    assert!(!info.resumed);
    assert_eq!(info.protocol, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(info.generation, 1);
    assert!(info.client.is_none());
}

/// Case 15: `http2: false` offers http/1.1 only.
#[tokio::test]
async fn no_http2_offers_http11_only() {
    let (ca, leaf) = rsa_server();
    let mut s = settings(&leaf);
    s.cipher_suites = vec![CipherSuite::EcdheRsaAes256GcmSha384];
    s.max_version = TlsVersion::Tls12;
    let acceptor = TlsAcceptor::new(&plan(&s, false).unwrap()).unwrap();
    let mut server = serve(Arc::new(acceptor), Duration::from_secs(10)).await;
    let opts = ClientOpts {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    };
    let stream = round_trip(server.addr, client_config(&ca.cert_der, &opts))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(!server.outcome().await.unwrap().alpn_h2);
}

/// Case 16: Go's serve-time HTTP/2 cipher check.
#[test]
fn http2_cipher_check_like_go() {
    let (_, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.cipher_suites = vec![
        CipherSuite::EcdheRsaAes256GcmSha384,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
    ];
    s.max_version = TlsVersion::Tls12;
    let err = plan(&s, true).unwrap_err().to_string();
    assert!(
        err.contains("TLSConfig.CipherSuites is missing an HTTP/2-required"),
        "{err}"
    );
    assert!(plan(&s, false).is_ok());
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Default;
    assert!(plan(&s, true).is_ok(), "min TLS13 skips the check");
}

/// Case 6 (rustls): a TLS 1.2-only client against min_version TLS13 gets protocol_version.
#[tokio::test]
async fn version_mismatch_protocol_version_alert() {
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    let mut server = with(&s).await.0;
    let opts = ClientOpts {
        tls12_only: true,
        ..Default::default()
    };
    assert_alert(
        connect(server.addr, client_config(&ca.cert_der, &opts)).await,
        AlertDescription::ProtocolVersion,
    );
    assert_eq!(server.refused().await, "protocol_version");
}

/// min_version > max_version: accepted, then every handshake is refused with protocol_version.
#[tokio::test]
async fn min_above_max_refuses_every_handshake() {
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Tls12;
    let plan = plan(&s, true).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("every TLS handshake will be refused"))
    );
    let acceptor = Arc::new(TlsAcceptor::new(&plan).unwrap());
    assert!(acceptor.current().refuses_all_handshakes());
    let mut server = serve(acceptor, Duration::from_secs(10)).await;
    for opts in [
        ClientOpts::default(),
        ClientOpts {
            tls12_only: true,
            ..Default::default()
        },
        ClientOpts {
            tls13_only: true,
            ..Default::default()
        },
    ] {
        assert_alert(
            connect(server.addr, client_config(&ca.cert_der, &opts)).await,
            AlertDescription::ProtocolVersion,
        );
        assert_eq!(server.refused().await, "protocol_version");
    }
}

/// Case 6 with openssl: a client capped at TLS 1.1 gets protocol_version.
#[tokio::test]
async fn openssl_tls11_client_gets_protocol_version() {
    let Some(_) = openssl() else { return };
    let (ca, leaf) = ecdsa_server();
    let server = with(&settings(&leaf)).await.0;
    let dir = tempfile::tempdir().unwrap();
    // SECLEVEL=0 so OpenSSL 3 itself is willing to send a TLS 1.1 ClientHello.
    let out = s_client(
        server.addr,
        dir.path(),
        &ca.cert_pem,
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    )
    .await;
    assert!(out.contains("alert protocol version"), "{out}");
}

/// min > max with openssl: the alert arrives as Go would send it.
#[tokio::test]
async fn openssl_min_above_max_gets_protocol_version() {
    let Some(_) = openssl() else { return };
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Tls12;
    let server = with(&s).await.0;
    let dir = tempfile::tempdir().unwrap();
    let out = s_client(server.addr, dir.path(), &ca.cert_pem, &[]).await;
    assert!(out.contains("alert protocol version"), "{out}");
}

/// Case 7: all 13 Go names are accepted (CBC ones with a warning) and a client succeeds.
#[tokio::test]
async fn all_ciphers_accepted() {
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.cipher_suites = CipherSuite::ALL.to_vec();
    let plan = plan(&s, true).unwrap();
    assert_eq!(
        plan.warnings.iter().filter(|w| w.contains("CBC")).count(),
        4
    );
    let mut server = serve(
        Arc::new(TlsAcceptor::new(&plan).unwrap()),
        Duration::from_secs(10),
    )
    .await;
    for opts in [
        ClientOpts::default(),
        ClientOpts {
            tls12_only: true,
            ..Default::default()
        },
    ] {
        accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
    }
}

fn some_ciphers(leaf: &Leaf, order: Vec<CipherSuite>, prefer: bool) -> TlsSettings {
    let mut s = settings(leaf);
    s.cipher_suites = order;
    s.prefer_server_cipher_suites = prefer;
    s.min_version = TlsVersion::Tls12;
    s.max_version = TlsVersion::Tls12;
    s
}

/// Cases 8–11: the list restricts, Go's fixed preference decides, prefer_server has no effect.
#[tokio::test]
async fn cipher_restriction_and_negotiated_suite() {
    use rustls::CipherSuite as C;
    let (ca, leaf) = rsa_server();
    let aes128 = CipherSuite::EcdheRsaAes128GcmSha256;
    let aes256 = CipherSuite::EcdheRsaAes256GcmSha384;
    let client = |suites| ClientOpts {
        suites: Some(suites),
        ..Default::default()
    };
    for (order, prefer) in [(vec![aes128, aes256], true), (vec![aes256, aes128], false)] {
        let mut server = with(&some_ciphers(&leaf, order, prefer)).await.0;
        // Case 8: one allowed suite.
        let opts = client(vec![cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]);
        accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
        // Case 9 (rustls has no CBC; ChaCha20 is equally outside the list): handshake_failure.
        let opts = client(vec![cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]);
        assert_alert(
            connect(server.addr, client_config(&ca.cert_der, &opts)).await,
            AlertDescription::HandshakeFailure,
        );
        assert_eq!(server.refused().await, "handshake_failure");
        // Cases 10/11: client [AES128, AES256] → AES128 whatever the file's order; and Go's
        // own preference decides, not the client's: a client preferring AES-256 still gets
        // AES-128, as a Go server gives it.
        for offered in [
            [
                cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            ],
            [
                cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ],
        ] {
            let opts = client(offered.to_vec());
            let info = accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
            assert_eq!(
                info.cipher_suite,
                Some(C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
            );
            assert_eq!(info.protocol, Some(rustls::ProtocolVersion::TLSv1_2));
        }
    }
}

/// Case 9 with openssl, which can offer the CBC suite itself: handshake failure.
#[tokio::test]
async fn openssl_cbc_client_gets_handshake_failure() {
    let Some(_) = openssl() else { return };
    let (ca, leaf) = rsa_server();
    let s = some_ciphers(
        &leaf,
        vec![
            CipherSuite::EcdheRsaAes128GcmSha256,
            CipherSuite::EcdheRsaAes256GcmSha384,
        ],
        true,
    );
    let server = with(&s).await.0;
    let dir = tempfile::tempdir().unwrap();
    let out = s_client(
        server.addr,
        dir.path(),
        &ca.cert_pem,
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA"],
    )
    .await;
    assert!(out.contains("alert handshake failure"), "{out}");
    let out = s_client(
        server.addr,
        dir.path(),
        &ca.cert_pem,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
        ],
    )
    .await;
    assert!(out.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
}

/// Case 12: all four curves listed; each one negotiates on its own.
#[tokio::test]
async fn all_curves_each_negotiates() {
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.curve_preferences = vec![Curve::P256, Curve::P384, Curve::P521, Curve::X25519];
    let mut server = with(&s).await.0;
    for group in [
        kx_group::SECP256R1,
        kx_group::SECP384R1,
        kx_p521::SECP521R1,
        kx_group::X25519,
    ] {
        for tls12_only in [false, true] {
            let opts = ClientOpts {
                groups: Some(vec![group]),
                tls12_only,
                ..Default::default()
            };
            accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
        }
    }
}

/// Cases 13/14: min TLS13 + [CurveP521]: a P-521 client succeeds, a P-384-only client gets
/// handshake_failure.
#[tokio::test]
async fn some_curves_p521_only() {
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    s.curve_preferences = vec![Curve::P521];
    let mut server = with(&s).await.0;
    let opts = ClientOpts {
        groups: Some(vec![kx_p521::SECP521R1]),
        ..Default::default()
    };
    let stream = round_trip(server.addr, client_config(&ca.cert_der, &opts))
        .await
        .unwrap();
    let group = stream
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .map(|g| g.name());
    assert_eq!(group, Some(rustls::NamedGroup::secp521r1));
    server.outcome().await.unwrap();

    let opts = ClientOpts {
        groups: Some(vec![kx_group::SECP384R1]),
        ..Default::default()
    };
    assert_alert(
        connect(server.addr, client_config(&ca.cert_der, &opts)).await,
        AlertDescription::HandshakeFailure,
    );
    assert_eq!(server.refused().await, "handshake_failure");
}

/// Cases 13/14 with openssl: P-521 really negotiates against OpenSSL's implementation.
#[tokio::test]
async fn openssl_p521_and_p384() {
    let Some(_) = openssl() else { return };
    let (ca, leaf) = ecdsa_server();
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    s.curve_preferences = vec![Curve::P521];
    let server = with(&s).await.0;
    let dir = tempfile::tempdir().unwrap();
    let out = s_client(server.addr, dir.path(), &ca.cert_pem, &["-groups", "P-521"]).await;
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("Server Temp Key: ECDH, secp521r1"), "{out}");
    let out = s_client(server.addr, dir.path(), &ca.cert_pem, &["-groups", "P-384"]).await;
    assert!(out.contains("alert handshake failure"), "{out}");
}

/// Without curve_preferences the provider defaults (incl. X25519MLKEM768) and P-521 are offered.
#[tokio::test]
async fn default_curves_include_hybrid_and_p521() {
    let (ca, leaf) = ecdsa_server();
    let mut server = with(&settings(&leaf)).await.0;
    for group in [kx_group::X25519MLKEM768, kx_p521::SECP521R1] {
        let opts = ClientOpts {
            groups: Some(vec![group]),
            ..Default::default()
        };
        let stream = round_trip(server.addr, client_config(&ca.cert_der, &opts))
            .await
            .unwrap();
        let got = stream
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name());
        assert_eq!(got, Some(group.name()));
        server.outcome().await.unwrap();
    }
}
