//! The server's certificate chain and private key: PEM → a checked `CertifiedKey`.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::error::TlsError;

/// The kind of key the served certificate carries (for metrics and for picking TLS 1.2 suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA of any size.
    Rsa,
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// ECDSA on P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// Anything else rustls could load.
    Other,
}

impl KeyType {
    /// A short stable label, e.g. for a metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::EcdsaP256 => "ecdsa_p256",
            Self::EcdsaP384 => "ecdsa_p384",
            Self::EcdsaP521 => "ecdsa_p521",
            Self::Ed25519 => "ed25519",
            Self::Other => "other",
        }
    }

    /// True when TLS 1.2 needs an `ECDHE_RSA` suite for this key (otherwise `ECDHE_ECDSA`).
    pub(crate) fn uses_rsa_suites(self) -> bool {
        self == Self::Rsa
    }
}

/// A loaded, consistency-checked certificate and key with the facts other modules need.
pub(crate) struct ServerMaterial {
    pub(crate) certified_key: Arc<CertifiedKey>,
    pub(crate) not_after_unix: i64,
    pub(crate) key_type: KeyType,
}

/// Parses the chain and key, loads the key through the provider and checks they belong together.
pub(crate) fn load(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<ServerMaterial, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(format!("tls: failed to parse certificate PEM: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Certificate(
            "tls: failed to find any PEM data in certificate input".into(),
        ));
    };
    let (not_after_unix, spki_kind) = leaf_facts(leaf)?;

    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            TlsError::PrivateKey("tls: failed to find any PEM data in key input".into())
        }
        // The pem error never echoes section contents, only structure, so it is safe to show.
        other => TlsError::PrivateKey(format!("tls: failed to parse private key: {other}")),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| TlsError::PrivateKey("tls: failed to parse private key".into()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch)?;

    let key_type = match certified.key.algorithm() {
        rustls::SignatureAlgorithm::RSA => KeyType::Rsa,
        rustls::SignatureAlgorithm::ED25519 => KeyType::Ed25519,
        rustls::SignatureAlgorithm::ECDSA => spki_kind,
        _ => KeyType::Other,
    };
    Ok(ServerMaterial {
        certified_key: Arc::new(certified),
        not_after_unix,
        key_type,
    })
}

/// Not-after time and the ECDSA curve (by point size) of a leaf certificate.
fn leaf_facts(leaf: &CertificateDer<'_>) -> Result<(i64, KeyType), TlsError> {
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| TlsError::Certificate(format!("x509: malformed certificate: {e}")))?;
    let not_after = cert.validity().not_after.timestamp();
    // An uncompressed point is 1 + 2 * field size bytes: 65, 97 and 133 for P-256/384/521.
    let kind = match cert.public_key().parsed() {
        Ok(PublicKey::EC(point)) => match point.data().len() {
            65 => KeyType::EcdsaP256,
            97 => KeyType::EcdsaP384,
            133 => KeyType::EcdsaP521,
            _ => KeyType::Other,
        },
        _ => KeyType::Other,
    };
    Ok((not_after, kind))
}
