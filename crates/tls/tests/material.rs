//! Key and certificate formats (spec §5.7) and load-time clamping of settings rustls cannot
//! honour ("deliberately differs" 5).

mod common;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use common::*;
use scrapegate_config::{CipherSuite, TlsSettings, TlsVersion};
use scrapegate_tls::{KeyType, TlsAcceptor};

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One DER TLV: (tag, contents, rest). Short test keys only; enough for PKCS#8 unwrapping.
fn tlv(buf: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = buf[0];
    let (len, hdr) = match buf[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(buf[2]), 3),
        0x82 => (usize::from(buf[2]) << 8 | usize::from(buf[3]), 4),
        _ => panic!("unsupported length"),
    };
    (tag, &buf[hdr..hdr + len], &buf[hdr + len..])
}

/// PKCS#8 → the inner private key (PKCS#1 for RSA).
fn pkcs8_inner(pkcs8: &[u8]) -> Vec<u8> {
    let (_, body, _) = tlv(pkcs8);
    let (_, _, rest) = tlv(body); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

fn with_key(leaf: &Leaf, key_pem: String) -> TlsSettings {
    let mut s = settings(leaf);
    s.key_pem = zeroize::Zeroizing::new(key_pem.into_bytes());
    s
}

async fn serves(ca: &Ca, s: &TlsSettings) {
    let mut server = EchoServer::with(s).await;
    for tls12_only in [false, true] {
        let opts = ClientOpts {
            tls12_only,
            ..Default::default()
        };
        round_trip(server.addr, client_config(&ca.cert_der, &opts))
            .await
            .unwrap();
        server.outcome().await.unwrap();
    }
}

#[tokio::test]
async fn pkcs8_keys_of_every_type() {
    let ca = Ca::new("Root");
    for (alg, want) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, KeyType::EcdsaP256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, KeyType::EcdsaP384),
        (&rcgen::PKCS_ED25519, KeyType::Ed25519),
        (&rcgen::PKCS_RSA_SHA256, KeyType::Rsa),
    ] {
        let leaf = ca.server(alg);
        let s = settings(&leaf);
        let (acceptor, _) = TlsAcceptor::new(&s, true).unwrap();
        assert_eq!(acceptor.current().key_type, want);
        assert_eq!(
            acceptor.current().cert_not_after_unix,
            rcgen::date_time_ymd(4096, 1, 1).unix_timestamp()
        );
        serves(&ca, &s).await;
    }
}

#[tokio::test]
async fn pkcs1_rsa_key() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_RSA_SHA256);
    let s = with_key(&leaf, pem("RSA PRIVATE KEY", &pkcs8_inner(&leaf.key_pkcs8)));
    serves(&ca, &s).await;
}

#[tokio::test]
async fn sec1_ec_key_after_ec_parameters() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &leaf.key_pkcs8).unwrap();
    let sec1 = pair.private_key().as_der().unwrap();
    // `openssl ecparam -genkey` writes the curve OID first; Go skips that block.
    let params = pem(
        "EC PARAMETERS",
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    );
    let s = with_key(&leaf, params + &pem("EC PRIVATE KEY", sec1.as_ref()));
    serves(&ca, &s).await;
}

#[test]
fn broken_material_errors() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let other = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);

    let s = with_key(&leaf, other.key_pem.clone());
    let err = TlsAcceptor::new(&s, true).unwrap_err().to_string();
    assert_eq!(
        err,
        "failed to load X509KeyPair: tls: private key does not match public key"
    );

    let mut s = settings(&leaf);
    s.cert_chain_pem = b"hello".to_vec();
    let err = TlsAcceptor::new(&s, true).unwrap_err().to_string();
    assert!(
        err.contains("failed to find any PEM data in certificate input"),
        "{err}"
    );

    let s = with_key(&leaf, "nothing here".into());
    let err = TlsAcceptor::new(&s, true).unwrap_err().to_string();
    assert!(
        err.contains("failed to find any PEM data in key input"),
        "{err}"
    );
}

#[test]
fn legacy_versions_are_clamped_or_refused() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls10;
    let (_, warnings) = TlsAcceptor::new(&s, true).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("min_version TLS10")),
        "{warnings:?}"
    );

    s.max_version = TlsVersion::Tls11;
    let err = TlsAcceptor::new(&s, true).unwrap_err().to_string();
    assert!(err.contains("max_version TLS11"), "{err}");
}

#[test]
fn cipher_lists_without_a_usable_tls12_suite_fail_with_a_reason() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut s = settings(&leaf);
    s.cipher_suites = vec![
        CipherSuite::EcdheEcdsaAes128CbcSha,
        CipherSuite::TlsAes128GcmSha256,
    ];
    s.max_version = TlsVersion::Tls12;
    let err = TlsAcceptor::new(&s, false).unwrap_err().to_string();
    assert!(err.contains("no usable TLS 1.2 cipher suite"), "{err}");
    // TLS 1.3 only: the list does not matter (Go ignores it for 1.3).
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Tls13;
    assert!(TlsAcceptor::new(&s, false).is_ok());
}

#[test]
fn suites_not_fitting_the_key_warn_and_prefer_server_does_not() {
    let ca = Ca::new("Root");
    let leaf = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut s = settings(&leaf);
    s.cipher_suites = vec![CipherSuite::EcdheRsaAes128GcmSha256];
    s.prefer_server_cipher_suites = true;
    let (_, warnings) = TlsAcceptor::new(&s, true).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("fits the certificate")),
        "{warnings:?}"
    );
    // prefer_server_cipher_suites defaults to true in Go, so it must not warn by itself.
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("prefer_server_cipher_suites")),
        "{warnings:?}"
    );
}
