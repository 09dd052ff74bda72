//! The validated web.yml: what every other crate consumes. Nothing here reads a file.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// A TLS protocol version as web.yml names it. `Default` is Go's zero value (a null field or a
/// null section): Go then uses its defaults, TLS 1.2 as the minimum and TLS 1.3 as the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// The validated `tls_server_config`, with every referenced file already read.
///
/// Present only when TLS is enabled (spec §3.1 step 4). The PEM bytes are exactly what the file
/// (or the inline field) held; the certificate and key are known to parse and to match.
#[derive(Clone)]
pub struct TlsSettings {
    /// Server certificate chain, PEM (every `CERTIFICATE` block, leaf first).
    pub cert_chain_pem: Vec<u8>,
    /// Server private key, PEM. Wiped on drop.
    pub key_pem: Zeroizing<Vec<u8>>,
    /// Client CA bundle, PEM, when one is configured (file or inline). May hold no certificate
    /// at all (Go accepts that and then every verified client fails).
    pub client_ca_pem: Option<Vec<u8>>,
    pub client_auth: ClientAuth,
    /// `None`: not set (no check). `Some(vec![])`: set to `[]` (denies everyone).
    pub client_allowed_sans: Option<Vec<String>>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// Empty means Go's defaults (everything usable).
    pub cipher_suites: Vec<CipherSuite>,
    /// Empty means the library defaults.
    pub curve_preferences: Vec<Curve>,
    /// Accepted for compatibility; has no effect (Go ≥ 1.17 ignores it).
    pub prefer_server_cipher_suites: bool,
    /// Where the material came from (joined paths; `None` for inline), for messages and watching.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log.
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
            .field("client_auth", &self.client_auth)
            .field("client_allowed_sans", &self.client_allowed_sans)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("cipher_suites", &self.cipher_suites)
            .field("curve_preferences", &self.curve_preferences)
            .finish_non_exhaustive()
    }
}

/// One configured user: the name and the bcrypt hash exactly as written (Go's `Cost()` accepted it).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `rate_limit`: one token per `interval`, bucket of `burst` (spec §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Go `time.Duration` in nanoseconds: 0 is off, negative is unlimited.
    pub interval_nanos: i64,
    /// Capacity; ≤ 0 with a positive interval rejects every request.
    pub burst: i64,
}

impl RateLimit {
    /// True when a limiter has to run at all (`interval != 0`).
    pub fn is_enabled(&self) -> bool {
        self.interval_nanos != 0
    }

    /// The positive interval as a `Duration`, if there is one.
    pub fn interval(&self) -> Option<Duration> {
        u64::try_from(self.interval_nanos)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_nanos)
    }
}

/// A web.yml that passed every check `web.Validate` does, with its files loaded.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    /// The web.yml path as given.
    pub path: PathBuf,
    /// `None` when TLS is not enabled (plain HTTP).
    pub tls: Option<TlsSettings>,
    /// `http_server_config.http2` (after YAML defaults/zeroing). Only meaningful with TLS.
    pub http2: bool,
    /// The configured response headers, validated, in file order.
    pub headers: Vec<(String, String)>,
    /// Users in file order; empty means no basic auth.
    pub users: Vec<User>,
    pub rate_limit: RateLimit,
    /// Every file this config depends on (web.yml first), for the watcher.
    pub files: Vec<PathBuf>,
}
