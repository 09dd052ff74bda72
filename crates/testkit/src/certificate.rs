//! Served certificates made from test material, the way the config crate makes them from
//! files: a rustls signing key plus the leaf's facts.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrapegate_model::{KeyType, ServerCertificate};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// A [`ServerCertificate`] for a DER leaf and its DER (PKCS#8, SEC1 or PKCS#1) key.
pub fn server_certificate(leaf: &CertificateDer<'_>, key_der: &[u8]) -> ServerCertificate {
    server_chain(&[leaf.clone().into_owned()], key_der)
}

/// A [`ServerCertificate`] for a DER chain (leaf first) and the leaf's DER key.
pub fn server_chain(chain: &[CertificateDer<'static>], key_der: &[u8]) -> ServerCertificate {
    let key = PrivateKeyDer::try_from(key_der.to_vec()).expect("a DER private key");
    let signing = any_supported_type(&key).expect("a key rustls can sign with");
    let (_, leaf) = X509Certificate::from_der(chain[0].as_ref()).expect("a DER certificate");
    let key_type = match leaf.public_key().parsed() {
        Ok(PublicKey::RSA(_)) => KeyType::Rsa,
        Ok(PublicKey::EC(point)) => match point.data().len() {
            65 => KeyType::EcdsaP256,
            97 => KeyType::EcdsaP384,
            133 => KeyType::EcdsaP521,
            _ => KeyType::Other,
        },
        _ if signing.algorithm() == rustls::SignatureAlgorithm::ED25519 => KeyType::Ed25519,
        _ => KeyType::Other,
    };
    ServerCertificate {
        certified_key: Arc::new(CertifiedKey::new(chain.to_vec(), signing)),
        not_after_unix: leaf.validity().not_after.timestamp(),
        key_type,
    }
}

/// A [`scrapegate_model::ClientCrl`] for a DER CRL, as the config crate loads one from `file`.
pub fn client_crl(der: Vec<u8>, file: &str) -> scrapegate_model::ClientCrl {
    use x509_parser::revocation_list::CertificateRevocationList;
    let (_, list) = CertificateRevocationList::from_der(&der).expect("a DER CRL");
    scrapegate_model::ClientCrl {
        file: file.into(),
        next_update_unix: list.next_update().map(|t| t.timestamp()),
        revoked: list.iter_revoked_certificates().count(),
        der: der.into(),
    }
}
