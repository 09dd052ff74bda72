//! The web.yml `tls_server_config` as typed values: protocol versions, cipher suites and curves
//! by their Go names, the client-certificate mode, and the server's certificate and key already
//! parsed (by the config crate, with Go's `X509KeyPair` rules) into what rustls serves.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

/// A TLS protocol version as web.yml names it. `Default` is Go's zero value (a null field or a
/// null section): Go then uses its defaults, TLS 1.2 as the minimum and TLS 1.3 as the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)] // each variant is the Go name `go_name` returns
pub enum TlsVersion {
    /// Go's zero value: the library default applies.
    Default,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Default for TlsVersion {
    /// Go's zero value.
    fn default() -> Self {
        TlsVersion::Default
    }
}

impl TlsVersion {
    /// Parses a web.yml version name (`TLS10` … `TLS13`, case-sensitive).
    pub fn from_go_name(name: &str) -> Option<Self> {
        Some(match name {
            "TLS10" => Self::Tls10,
            "TLS11" => Self::Tls11,
            "TLS12" => Self::Tls12,
            "TLS13" => Self::Tls13,
            _ => return None,
        })
    }

    /// The web.yml spelling (`Default` has none and prints as `0`).
    pub fn go_name(self) -> &'static str {
        match self {
            Self::Default => "0",
            Self::Tls10 => "TLS10",
            Self::Tls11 => "TLS11",
            Self::Tls12 => "TLS12",
            Self::Tls13 => "TLS13",
        }
    }
}

/// The 13 cipher suite names Go 1.25's `tls.CipherSuites()` returns (spec §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the Go name `go_name` returns
pub enum CipherSuite {
    TlsAes128GcmSha256,
    TlsAes256GcmSha384,
    TlsChacha20Poly1305Sha256,
    EcdheEcdsaAes128CbcSha,
    EcdheEcdsaAes256CbcSha,
    EcdheRsaAes128CbcSha,
    EcdheRsaAes256CbcSha,
    EcdheEcdsaAes128GcmSha256,
    EcdheEcdsaAes256GcmSha384,
    EcdheRsaAes128GcmSha256,
    EcdheRsaAes256GcmSha384,
    EcdheRsaChacha20Poly1305Sha256,
    EcdheEcdsaChacha20Poly1305Sha256,
}

impl CipherSuite {
    /// Every suite, in Go's `tls.CipherSuites()` order.
    pub const ALL: [CipherSuite; 13] = [
        Self::TlsAes128GcmSha256,
        Self::TlsAes256GcmSha384,
        Self::TlsChacha20Poly1305Sha256,
        Self::EcdheEcdsaAes128CbcSha,
        Self::EcdheEcdsaAes256CbcSha,
        Self::EcdheRsaAes128CbcSha,
        Self::EcdheRsaAes256CbcSha,
        Self::EcdheEcdsaAes128GcmSha256,
        Self::EcdheEcdsaAes256GcmSha384,
        Self::EcdheRsaAes128GcmSha256,
        Self::EcdheRsaAes256GcmSha384,
        Self::EcdheRsaChacha20Poly1305Sha256,
        Self::EcdheEcdsaChacha20Poly1305Sha256,
    ];

    /// The Go name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    pub fn go_name(self) -> &'static str {
        match self {
            Self::TlsAes128GcmSha256 => "TLS_AES_128_GCM_SHA256",
            Self::TlsAes256GcmSha384 => "TLS_AES_256_GCM_SHA384",
            Self::TlsChacha20Poly1305Sha256 => "TLS_CHACHA20_POLY1305_SHA256",
            Self::EcdheEcdsaAes128CbcSha => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            Self::EcdheEcdsaAes256CbcSha => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            Self::EcdheRsaAes128CbcSha => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            Self::EcdheRsaAes256CbcSha => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            Self::EcdheEcdsaAes128GcmSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Self::EcdheEcdsaAes256GcmSha384 => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Self::EcdheRsaAes128GcmSha256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Self::EcdheRsaAes256GcmSha384 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Self::EcdheRsaChacha20Poly1305Sha256 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Self::EcdheEcdsaChacha20Poly1305Sha256 => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
        }
    }

    /// Parses a Go cipher suite name (exact match).
    pub fn from_go_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.go_name() == name)
    }

    /// True for the three TLS 1.3 suites, which Go (and so scrapegate) never restricts.
    pub fn is_tls13(self) -> bool {
        matches!(
            self,
            Self::TlsAes128GcmSha256 | Self::TlsAes256GcmSha384 | Self::TlsChacha20Poly1305Sha256
        )
    }

    /// True for the four CBC suites, which rustls does not implement.
    pub fn is_cbc(self) -> bool {
        matches!(
            self,
            Self::EcdheEcdsaAes128CbcSha
                | Self::EcdheEcdsaAes256CbcSha
                | Self::EcdheRsaAes128CbcSha
                | Self::EcdheRsaAes256CbcSha
        )
    }
}

/// A key-exchange group as web.yml names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the Go name `go_name` returns
pub enum Curve {
    P256,
    P384,
    P521,
    X25519,
}

impl Curve {
    /// Parses `CurveP256`, `CurveP384`, `CurveP521` or `X25519` (case-sensitive).
    pub fn from_go_name(name: &str) -> Option<Self> {
        Some(match name {
            "CurveP256" => Self::P256,
            "CurveP384" => Self::P384,
            "CurveP521" => Self::P521,
            "X25519" => Self::X25519,
            _ => return None,
        })
    }

    /// The web.yml spelling.
    pub fn go_name(self) -> &'static str {
        match self {
            Self::P256 => "CurveP256",
            Self::P384 => "CurveP384",
            Self::P521 => "CurveP521",
            Self::X25519 => "X25519",
        }
    }
}

/// Client certificate policy (spec §2.1.1). `RequireClientCert` parses to `RequireAny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `""` or `NoClientCert`: no certificate requested.
    NoClientCert,
    /// `RequestClientCert`: asked for, not required, chain not verified.
    RequestClientCert,
    /// `RequireAnyClientCert` / `RequireClientCert`: required, chain not verified.
    RequireAnyClientCert,
    /// `VerifyClientCertIfGiven`: optional, verified when given.
    VerifyClientCertIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Parses the web.yml value; `None` for anything Go rejects with `invalid ClientAuth`.
    pub fn from_go_name(name: &str) -> Option<Self> {
        Some(match name {
            "" | "NoClientCert" => Self::NoClientCert,
            "RequestClientCert" => Self::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => Self::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// True when the server asks the client for a certificate at all.
    pub fn requests_cert(self) -> bool {
        self != Self::NoClientCert
    }

    /// True when a missing client certificate fails the handshake.
    pub fn requires_cert(self) -> bool {
        matches!(
            self,
            Self::RequireAnyClientCert | Self::RequireAndVerifyClientCert
        )
    }

    /// True when a presented certificate is verified against the CA pool.
    pub fn verifies_chain(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// The kind of key the served certificate carries (for metrics, warnings and for picking
/// TLS 1.2 suites).
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
    pub fn uses_rsa_suites(self) -> bool {
        self == Self::Rsa
    }
}

/// The served certificate chain and key, checked to belong together, with the facts other
/// crates need about the leaf. Built once per load; cloning shares the key.
#[derive(Clone)]
pub struct ServerCertificate {
    /// Chain (leaf first) and the provider's signing key.
    pub certified_key: Arc<CertifiedKey>,
    /// The leaf's notAfter, in Unix seconds.
    pub not_after_unix: i64,
    /// The leaf's key type.
    pub key_type: KeyType,
}

impl ServerCertificate {
    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.certified_key.cert
    }
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log.
        f.debug_struct("ServerCertificate")
            .field("chain_len", &self.certified_key.cert.len())
            .field("not_after_unix", &self.not_after_unix)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// The validated `tls_server_config`, with every referenced file read and parsed.
///
/// Present only when TLS is enabled (spec §3.1 step 4).
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The server certificate and key (Go's `X509KeyPair` accepted them).
    pub certificate: ServerCertificate,
    /// The client CA certificates when a CA is configured (file or inline): every
    /// `CERTIFICATE` block that parses, as Go's `AppendCertsFromPEM` keeps them. May be empty
    /// (Go accepts that, and then every verified client fails).
    pub client_cas: Option<Vec<CertificateDer<'static>>>,
    /// The client-certificate mode.
    pub client_auth: ClientAuth,
    /// `None`: not set (no check). `Some(vec![])`: set to `[]` (denies everyone).
    pub client_allowed_sans: Option<Vec<String>>,
    /// `min_version` as written (`Default` when absent).
    pub min_version: TlsVersion,
    /// `max_version` as written (`Default` when absent).
    pub max_version: TlsVersion,
    /// Empty means Go's defaults (everything usable).
    pub cipher_suites: Vec<CipherSuite>,
    /// Empty means the library defaults.
    pub curve_preferences: Vec<Curve>,
    /// Accepted for compatibility; has no effect (Go ≥ 1.17 ignores it).
    pub prefer_server_cipher_suites: bool,
    /// Where the material came from (joined paths; `None` for inline), for messages.
    pub cert_file: Option<PathBuf>,
    /// See `cert_file`.
    pub key_file: Option<PathBuf>,
    /// See `cert_file`.
    pub client_ca_file: Option<PathBuf>,
    /// Revocation lists for client certificates. web.yml has no such key: they come from
    /// scrapegate.yml's `tls.client_crl_files` and are put here when the two files are paired,
    /// after checking each is signed by a client CA and the mode verifies certificates.
    pub client_crls: Vec<ClientCrl>,
}

/// One certificate revocation list for client certificates, parsed, its signature checked
/// against a client CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCrl {
    /// The file it was read from (joined with scrapegate.yml's directory).
    pub file: PathBuf,
    /// The list as DER (a PEM file is decoded).
    pub der: CertificateRevocationListDer<'static>,
    /// `nextUpdate` in Unix seconds, when the list has one: past it, the list is stale (still
    /// applied, and warned about).
    pub next_update_unix: Option<i64>,
    /// How many certificates it revokes, for the log.
    pub revoked: usize,
}
