//! Private-key and certificate formats Go's `X509KeyPair` accepts (spec §5.7), parsed once
//! here into the served certificate: every PKCS#8 key type, PKCS#1 RSA, SEC1 EC after an
//! `EC PARAMETERS` block, with the key type and notAfter the other crates rely on; and the
//! material errors that used to surface from the TLS crate, now load errors with Go's texts.

use std::path::Path;

use rustls::SignatureScheme;
use scrapegate_config::{KeyType, TlsSettings, load};
use scrapegate_testkit::pki::{Ca, KeyAlg, Leaf, pem};

/// 4096-01-01T00:00:00Z, rcgen's default notAfter.
const RCGEN_NOT_AFTER: i64 = 67_090_118_400;

/// Writes `cert_pem` and `key_pem` next to a web.yml serving them and loads it.
fn load_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<TlsSettings, String> {
    std::fs::write(dir.join("s.crt"), cert_pem).unwrap();
    std::fs::write(dir.join("s.key"), key_pem).unwrap();
    let yml = dir.join("web.yml");
    std::fs::write(
        &yml,
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n",
    )
    .unwrap();
    load(&yml)
        .map(|c| c.tls.expect("TLS on"))
        .map_err(|e| e.to_string())
}

/// The loaded key belongs to the leaf and can sign a handshake.
fn assert_serves(tls: &TlsSettings, leaf: &Leaf) {
    let certified = &tls.certificate.certified_key;
    assert_eq!(
        tls.certificate.chain(),
        std::slice::from_ref(&leaf.cert_der)
    );
    certified.keys_match().expect("key matches the certificate");
    let signer = certified
        .key
        .choose_scheme(&[
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA256,
        ])
        .expect("a usable signature scheme");
    signer.sign(b"handshake transcript").expect("signs");
}

#[test]
fn pkcs8_keys_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Root");
    for alg in KeyAlg::ALL {
        let want = alg.key_type();
        let leaf = ca.server(alg);
        let tls = load_pair(dir.path(), &leaf.cert_pem, &leaf.key_pem).unwrap();
        assert_eq!(tls.certificate.key_type, want);
        assert_eq!(tls.certificate.not_after_unix, RCGEN_NOT_AFTER);
        assert_serves(&tls, &leaf);
    }
}

#[test]
fn pkcs1_rsa_key() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = Ca::new("Root").server(KeyAlg::Rsa2048);
    let key = pem("RSA PRIVATE KEY", &leaf.key_pkcs1());
    let tls = load_pair(dir.path(), &leaf.cert_pem, &key).unwrap();
    assert_eq!(tls.certificate.key_type, KeyType::Rsa);
    assert_serves(&tls, &leaf);
}

#[test]
fn sec1_ec_key_after_ec_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    // `openssl ecparam -genkey` writes the curve OID first; Go skips that block.
    let params = pem(
        "EC PARAMETERS",
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    );
    let key = params + &pem("EC PRIVATE KEY", &leaf.key_sec1());
    let tls = load_pair(dir.path(), &leaf.cert_pem, &key).unwrap();
    assert_eq!(tls.certificate.key_type, KeyType::EcdsaP256);
    assert_serves(&tls, &leaf);
}

/// Was the TLS crate's `broken_material_errors`: the same material, refused at load.
#[test]
fn broken_material_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let other = ca.server(KeyAlg::EcdsaP256);

    let err = load_pair(dir.path(), &leaf.cert_pem, &other.key_pem).unwrap_err();
    assert_eq!(
        err,
        "failed to load X509KeyPair: tls: private key does not match public key"
    );

    let err = load_pair(dir.path(), "hello", &leaf.key_pem).unwrap_err();
    assert_eq!(
        err,
        "failed to load X509KeyPair: tls: failed to find any PEM data in certificate input"
    );

    let err = load_pair(dir.path(), &leaf.cert_pem, "nothing here").unwrap_err();
    assert_eq!(
        err,
        "failed to load X509KeyPair: tls: failed to find any PEM data in key input"
    );
}
