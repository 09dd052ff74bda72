//! Certificates valid to the second, for tests of what happens when a certificate expires
//! while a session (or a connection) outlives it. [`crate::pki::LeafSpec::valid`] takes whole
//! days; this CA issues client certificates with any `SystemTime` bounds (X.509 keeps
//! seconds), e.g. valid for the next three seconds.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls_pki_types::CertificateDer;

use crate::pki::{Eku, Leaf, SanType};

/// A root CA (self-signed, P-256) issuing P-256 client certificates with second-precision
/// validity. Use it as the gateway's `client_cas`.
pub struct ShortLivedCa {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA certificate, DER.
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for ShortLivedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortLivedCa").finish_non_exhaustive()
    }
}

impl ShortLivedCa {
    /// A new root CA named `cn`, valid for the default rcgen period (years).
    pub fn new(cn: &str) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key pair");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate named `cn` (SAN DNS `cn`, EKU clientAuth) valid from a minute ago
    /// until `lifetime` from now. Returns it with its notAfter.
    pub fn client_for(&self, cn: &str, lifetime: Duration) -> (Leaf, SystemTime) {
        let now = SystemTime::now();
        let until = now + lifetime;
        let leaf = self.client_valid(
            cn,
            vec![crate::pki::dns(cn)],
            vec![Eku::ClientAuth],
            now - Duration::from_secs(60),
            until,
        );
        (leaf, until)
    }

    /// A client certificate with the given names, EKUs and validity period, on a fresh P-256
    /// key. X.509 times have whole seconds: sub-second parts are dropped.
    pub fn client_valid(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        ekus: Vec<Eku>,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Leaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key pair");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = ekus;
        params.not_before = whole_seconds(not_before).into();
        params.not_after = whole_seconds(not_after).into();
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("issue certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
            public_key_der: key.subject_public_key_info(),
        }
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("time after 1970");
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::*;

    #[test]
    fn validity_is_kept_to_the_second() {
        let ca = ShortLivedCa::new("short");
        let (leaf, until) = ca.client_for("alpha", Duration::from_secs(3));
        let (_, cert) = X509Certificate::from_der(leaf.cert_der.as_ref()).unwrap();
        let want = until
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            cert.validity().not_after.timestamp(),
            i64::try_from(want).unwrap()
        );
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(lifetime, 63);
    }
}
