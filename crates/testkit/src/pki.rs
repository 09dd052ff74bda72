//! Throwaway PKI made with rcgen at test time: a CA issuing server and client certificates
//! (RSA or EC keys, chosen SANs and EKUs, chosen validity), self-signed certificates such as
//! the toolkit's CA-as-client `client_selfsigned.pem`, and PEM files written to a directory.
//! Nothing here is secret or long-lived.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PublicKeyData, RevocationReason, RevokedCertParams, SerialNumber,
    SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scrapegate_model::{KeyType, ServerCertificate};

pub use rcgen::{ExtendedKeyUsagePurpose as Eku, SanType};

use crate::certificate::server_certificate;

/// The key a certificate is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA on P-256 with SHA-256 (the default everywhere).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA-2048 with SHA-256 (generated with aws-lc-rs; rcgen's ring backend cannot).
    Rsa2048,
}

impl KeyAlg {
    /// Every kind, each once.
    pub const ALL: [KeyAlg; 4] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Ed25519,
        Self::Rsa2048,
    ];

    /// The served key type a certificate on this key has.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::EcdsaP256 => KeyType::EcdsaP256,
            Self::EcdsaP384 => KeyType::EcdsaP384,
            Self::Ed25519 => KeyType::Ed25519,
            Self::Rsa2048 => KeyType::Rsa,
        }
    }

    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// A fresh key pair of this kind.
    fn generate(self) -> KeyPair {
        if self == Self::Rsa2048 {
            use aws_lc_rs::encoding::AsDer;
            let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key");
            let der = rsa.as_der().expect("RSA key DER");
            KeyPair::from_pkcs8_der_and_sign_algo(
                &PrivatePkcs8KeyDer::from(der.as_ref().to_vec()),
                self.rcgen(),
            )
            .expect("RSA key pair")
        } else {
            KeyPair::generate_for(self.rcgen()).expect("key pair")
        }
    }
}

/// A calendar date (UTC midnight), for validity periods.
pub type Date = (i32, u8, u8);

/// What a certificate says. Start from [`LeafSpec::server`] or [`LeafSpec::client`] and
/// adjust the fields; [`Ca::issue`] signs it, [`self_signed`] signs it with its own key.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// Subject common name.
    pub cn: String,
    /// Subject alternative names.
    pub sans: Vec<SanType>,
    /// Extended key usages (empty: no EKU extension, which Go accepts for anything).
    pub ekus: Vec<Eku>,
    /// The key to make.
    pub key: KeyAlg,
    /// `CA:TRUE` (as the toolkit's self-signed client certificates are).
    pub is_ca: bool,
    /// notBefore; `None` is rcgen's default (1975-01-01).
    pub not_before: Option<Date>,
    /// notAfter; `None` is rcgen's default (4096-01-01).
    pub not_after: Option<Date>,
}

impl LeafSpec {
    /// A server certificate for `localhost` and `127.0.0.1` (CN `localhost`, EKU serverAuth).
    pub fn server(key: KeyAlg) -> Self {
        Self {
            cn: "localhost".into(),
            sans: vec![dns("localhost"), SanType::IpAddress([127, 0, 0, 1].into())],
            ekus: vec![Eku::ServerAuth],
            key,
            is_ca: false,
            not_before: None,
            not_after: None,
        }
    }

    /// A client certificate named `cn` with the given SANs and EKUs, on a P-256 key.
    pub fn client(cn: &str, sans: Vec<SanType>, ekus: Vec<Eku>) -> Self {
        Self {
            cn: cn.into(),
            sans,
            ekus,
            key: KeyAlg::EcdsaP256,
            is_ca: false,
            not_before: None,
            not_after: None,
        }
    }

    /// The same certificate valid from `not_before` until `not_after`.
    pub fn valid(mut self, not_before: Date, not_after: Date) -> Self {
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, &self.cn);
        params.subject_alt_names = self.sans.clone();
        params.extended_key_usages = self.ekus.clone();
        if self.is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if let Some((y, m, d)) = self.not_before {
            params.not_before = rcgen::date_time_ymd(y, m, d);
        }
        if let Some((y, m, d)) = self.not_after {
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        params
    }
}

/// A certificate with its key, in PEM and DER.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The public key as a DER SubjectPublicKeyInfo.
    pub public_key_der: Vec<u8>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf").finish_non_exhaustive()
    }
}

impl Leaf {
    fn of(cert: rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
            public_key_der: key.subject_public_key_info(),
        }
    }

    /// The private key for a rustls client or server.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// The certificate and key as the config crate would have loaded them for serving.
    pub fn server_certificate(&self) -> ServerCertificate {
        server_certificate(&self.cert_der, &self.key_pkcs8)
    }

    /// The private key as PKCS#1 DER (`RSA PRIVATE KEY`); RSA leaves only.
    pub fn key_pkcs1(&self) -> Vec<u8> {
        pkcs8_inner(&self.key_pkcs8)
    }

    /// The private key as SEC1 DER with the curve named (`EC PRIVATE KEY`, what
    /// `openssl ecparam -genkey` writes); P-256 leaves only.
    pub fn key_sec1(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.key_pkcs8)
            .expect("a P-256 key");
        pair.private_key()
            .as_der()
            .expect("SEC1 DER")
            .as_ref()
            .to_vec()
    }

    /// Writes `<name>.crt` and `<name>.key` (PEM) into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

/// A CA (self-signed, P-256, keyCertSign) that issues server and client certificates.
pub struct Ca {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA certificate, DER.
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A new root CA named `cn`.
    pub fn new(cn: &str) -> Self {
        let key = KeyAlg::EcdsaP256.generate();
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

    /// Signs `spec` with a fresh key of `spec.key`.
    pub fn issue(&self, spec: &LeafSpec) -> Leaf {
        self.issue_with(spec, &spec.key.generate())
    }

    fn issue_with(&self, spec: &LeafSpec, key: &KeyPair) -> Leaf {
        let cert = spec
            .params()
            .signed_by(key, &self.issuer)
            .expect("issue certificate");
        Leaf::of(cert, key)
    }

    /// A server certificate for `localhost` / `127.0.0.1` on a fresh `key`.
    pub fn server(&self, key: KeyAlg) -> Leaf {
        self.issue(&LeafSpec::server(key))
    }

    /// A server certificate for `localhost` / `127.0.0.1` on a given PKCS#8 PEM key (a
    /// fixed key file, say, where generating one would be slow).
    pub fn server_with_key_pem(&self, key_pem: &str) -> Leaf {
        let key = KeyPair::from_pem(key_pem).expect("PKCS#8 PEM key");
        // The spec's key kind only matters for generating; this key is given.
        self.issue_with(&LeafSpec::server(KeyAlg::EcdsaP256), &key)
    }

    /// A client certificate named `cn` with the given SANs and EKUs (P-256).
    pub fn client(&self, cn: &str, sans: Vec<SanType>, ekus: Vec<Eku>) -> Leaf {
        self.issue(&LeafSpec::client(cn, sans, ekus))
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.cert_pem).expect("write CA certificate");
    }

    /// [`Ca::crl_der`] as PEM (`X509 CRL`).
    pub fn crl(&self, revoked: &[&Leaf], stale: bool) -> String {
        pem("X509 CRL", &self.crl_der(revoked, stale))
    }

    /// A CRL (DER) signed by this CA revoking `revoked`: current (this update 2025-01-01,
    /// next update 2099-01-01), or `stale` (next update 2021-01-01, long past).
    pub fn crl_der(&self, revoked: &[&Leaf], stale: bool) -> Vec<u8> {
        let (this_update, next_update) = if stale {
            ((2020, 1, 1), (2021, 1, 1))
        } else {
            ((2025, 1, 1), (2099, 1, 1))
        };
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(this_update.0, this_update.1, this_update.2),
            next_update: rcgen::date_time_ymd(next_update.0, next_update.1, next_update.2),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|leaf| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial(&leaf.cert_der)),
                    revocation_time: rcgen::date_time_ymd(2025, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .expect("sign CRL")
            .der()
            .to_vec()
    }
}

/// The serial number of a DER certificate, as its DER INTEGER content.
fn serial(der: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).expect("a certificate");
    cert.raw_serial().to_vec()
}

/// `spec` signed with its own key.
pub fn self_signed(spec: &LeafSpec) -> Leaf {
    let key = spec.key.generate();
    Leaf::of(spec.params().self_signed(&key).expect("self-signed"), &key)
}

/// Like the toolkit's `client_selfsigned.pem`: self-signed, `CA:TRUE`, EKU clientAuth, P-384.
pub fn self_signed_ca_client(cn: &str, sans: Vec<SanType>) -> Leaf {
    self_signed_ca_client_until(cn, sans, 4000)
}

/// [`self_signed_ca_client`] valid from 2020 until January 1st of `not_after_year`.
pub fn self_signed_ca_client_until(cn: &str, sans: Vec<SanType>, not_after_year: i32) -> Leaf {
    let spec = LeafSpec {
        key: KeyAlg::EcdsaP384,
        is_ca: true,
        ..LeafSpec::client(cn, sans, vec![Eku::ClientAuth])
    };
    self_signed(&spec.valid((2020, 1, 1), (not_after_year, 1, 1)))
}

/// A DNS-name SAN.
pub fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("DNS name"))
}

/// A CA and a P-256 server certificate for `localhost`, written into `dir` as `ca.pem`,
/// `server.crt` and `server.key` (the layout the e2e web.yml files refer to).
pub fn write_pki(dir: &Path) -> (Ca, Leaf) {
    let ca = Ca::new("scrapegate test CA");
    let server = ca.server(KeyAlg::EcdsaP256);
    ca.write(&dir.join("ca.pem"));
    server.write(dir, "server");
    (ca, server)
}

/// PEM armour for `der` under `label` (64-column base64, as Go and OpenSSL write it).
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One DER TLV: (tag, contents, rest). Short lengths only; enough for PKCS#8 unwrapping.
fn tlv(buf: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = buf[0];
    let (len, hdr) = match buf[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(buf[2]), 3),
        0x82 => ((usize::from(buf[2]) << 8) | usize::from(buf[3]), 4),
        _ => panic!("unsupported DER length"),
    };
    (tag, &buf[hdr..hdr + len], &buf[hdr + len..])
}

/// PKCS#8 → the wrapped private key (PKCS#1 for RSA).
fn pkcs8_inner(pkcs8: &[u8]) -> Vec<u8> {
    let (_, body, _) = tlv(pkcs8);
    let (_, _, rest) = tlv(body); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "PKCS#8 privateKey OCTET STRING");
    key.to_vec()
}
