//! Go's `tls.X509KeyPair` checks and error texts (spec §3.1 step 9): which PEM blocks count,
//! PKCS#1 / PKCS#8 / SEC1 keys tried in Go's order, and the type-versus-key mismatch texts.
//! Keys are parsed by rustls' aws-lc-rs provider; certificates by x509-parser. The result is
//! the [`ServerCertificate`] the TLS crate serves as it is: nothing parses these bytes again.

use std::sync::Arc;

use rustls::SignatureAlgorithm;
use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use scrapegate_model::{KeyType, ServerCertificate};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::go::pem;

/// The public key families Go distinguishes.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Family {
    Rsa,
    Ecdsa,
    Ed25519,
}

/// Runs Go's `tls.X509KeyPair(certPEM, keyPEM)`; the error is Go's text (without the
/// toolkit's `failed to load X509KeyPair: ` prefix).
pub fn x509_key_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerCertificate, String> {
    let mut chain = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for block in pem::decode_all(cert_pem) {
        if block.kind == "CERTIFICATE" {
            chain.push(block.bytes);
        } else {
            skipped.push(block.kind);
        }
    }
    if chain.is_empty() {
        if skipped.is_empty() {
            return Err("tls: failed to find any PEM data in certificate input".into());
        }
        if skipped.len() == 1 && skipped[0].ends_with("PRIVATE KEY") {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err(format!(
            "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
            skipped.join(" ")
        ));
    }

    skipped.clear();
    let mut rest = key_pem;
    let key_der = loop {
        let Some((block, after)) = pem::decode(rest) else {
            if skipped.is_empty() {
                return Err("tls: failed to find any PEM data in key input".into());
            }
            if skipped.len() == 1 && skipped[0] == "CERTIFICATE" {
                return Err(
                    "tls: found a certificate rather than a key in the PEM for the private key"
                        .into(),
                );
            }
            return Err(format!(
                "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
                skipped.join(" ")
            ));
        };
        rest = after;
        if block.kind == "PRIVATE KEY" || block.kind.ends_with(" PRIVATE KEY") {
            break zeroize::Zeroizing::new(block.bytes);
        }
        skipped.push(block.kind);
    };

    let (_, leaf) = X509Certificate::from_der(&chain[0])
        .map_err(|_| "x509: malformed certificate".to_string())?;
    let key = parse_private_key(&key_der)?;
    let key_family = match key.algorithm() {
        SignatureAlgorithm::RSA => Family::Rsa,
        SignatureAlgorithm::ECDSA => Family::Ecdsa,
        SignatureAlgorithm::ED25519 => Family::Ed25519,
        // Keys only rustls knows (ML-DSA): Go 1.25's x509 cannot parse them.
        _ => return Err("tls: failed to parse private key".into()),
    };
    let key_spki = key
        .public_key()
        .ok_or_else(|| "tls: failed to parse private key".to_string())?;
    let (_, key_spki) = SubjectPublicKeyInfo::from_der(key_spki.as_ref())
        .map_err(|_| "tls: failed to parse private key".to_string())?;

    let cert_spki = leaf.public_key();
    let cert_family = family_of(cert_spki).ok_or("tls: unknown public key algorithm")?;
    if cert_family != key_family {
        return Err("tls: private key type does not match public key type".into());
    }
    if !same_public_key(cert_family, cert_spki, &key_spki) {
        return Err("tls: private key does not match public key".into());
    }
    let key_type = match key_family {
        Family::Rsa => KeyType::Rsa,
        Family::Ed25519 => KeyType::Ed25519,
        Family::Ecdsa => ecdsa_key_type(cert_spki),
    };
    let not_after_unix = leaf.validity().not_after.timestamp();
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    Ok(ServerCertificate {
        certified_key: Arc::new(CertifiedKey::new(chain, key)),
        not_after_unix,
        key_type,
    })
}

/// The ECDSA curve by the size of the uncompressed point: 65, 97 and 133 bytes for
/// P-256/384/521.
fn ecdsa_key_type(spki: &SubjectPublicKeyInfo<'_>) -> KeyType {
    match spki.subject_public_key.data.len() {
        65 => KeyType::EcdsaP256,
        97 => KeyType::EcdsaP384,
        133 => KeyType::EcdsaP521,
        _ => KeyType::Other,
    }
}

/// Go's `parsePrivateKey`: PKCS#1, then PKCS#8 (RSA, ECDSA, Ed25519), then SEC1.
fn parse_private_key(der: &[u8]) -> Result<Arc<dyn SigningKey>, String> {
    let candidates = [
        PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
        PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
    ];
    for candidate in &candidates {
        if let Ok(key) = any_supported_type(candidate) {
            return Ok(key);
        }
    }
    if is_pkcs8_x25519(der) {
        // Go's ParsePKCS8PrivateKey returns an *ecdh.PrivateKey, which X509KeyPair refuses.
        return Err("tls: found unknown private key type in PKCS#8 wrapping".into());
    }
    Err("tls: failed to parse private key".into())
}

/// A PKCS#8 `PrivateKeyInfo` whose algorithm is X25519 (OID 1.3.101.110): the
/// `AlgorithmIdentifier` follows the version right at the start.
fn is_pkcs8_x25519(der: &[u8]) -> bool {
    const ALG_X25519: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x6E];
    der.first() == Some(&0x30)
        && der
            .get(..16)
            .is_some_and(|head| head.windows(ALG_X25519.len()).any(|w| w == ALG_X25519))
}

fn family_of(spki: &SubjectPublicKeyInfo<'_>) -> Option<Family> {
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" => Some(Family::Rsa),
        "1.2.840.10045.2.1" => Some(Family::Ecdsa),
        "1.3.101.112" => Some(Family::Ed25519),
        _ => None,
    }
}

/// Go compares the RSA modulus, the EC point, or the Ed25519 key bytes.
fn same_public_key(
    family: Family,
    cert: &SubjectPublicKeyInfo<'_>,
    key: &SubjectPublicKeyInfo<'_>,
) -> bool {
    match family {
        Family::Rsa => match (cert.parsed(), key.parsed()) {
            (Ok(PublicKey::RSA(a)), Ok(PublicKey::RSA(b))) => {
                strip_zeros(a.modulus) == strip_zeros(b.modulus)
            }
            _ => false,
        },
        Family::Ecdsa => {
            cert.algorithm.parameters.as_ref().map(|p| p.as_bytes())
                == key.algorithm.parameters.as_ref().map(|p| p.as_bytes())
                && cert.subject_public_key.data == key.subject_public_key.data
        }
        Family::Ed25519 => cert.subject_public_key.data == key.subject_public_key.data,
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
