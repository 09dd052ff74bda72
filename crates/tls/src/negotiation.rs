//! What the server is willing to negotiate: protocol versions, cipher suites and key-exchange
//! groups, mapped from the Go names in web.yml to a rustls `CryptoProvider`.
//!
//! rustls has no TLS 1.0/1.1 and no CBC suites; those settings are accepted (as Go accepts them)
//! and clamped with a warning. A configuration that leaves nothing usable is an error saying why.

use rustls::SupportedCipherSuite;
use rustls::SupportedProtocolVersion;
use rustls::crypto::aws_lc_rs::{self, cipher_suite as cs, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::version::{TLS12, TLS13};
use scrapegate_model::{CipherSuite, Curve, KeyType, TlsSettings, TlsVersion};

use crate::error::TlsError;
use crate::kx_p521::SECP521R1;

/// The negotiable parameters derived from one `TlsSettings`.
pub(crate) struct Negotiation {
    pub(crate) provider: CryptoProvider,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    /// min > max: Go accepts the file and then refuses every handshake (protocol_version).
    pub(crate) refuse_all: bool,
}

/// Maps versions, suites and curves; pushes a warning for every setting that is clamped.
pub(crate) fn negotiate(
    s: &TlsSettings,
    key_type: KeyType,
    warnings: &mut Vec<String>,
) -> Result<Negotiation, TlsError> {
    let (min, max, refuse_all) = versions(s.min_version, s.max_version, warnings)?;
    let tls12 = !refuse_all && min <= TlsVersion::Tls12;
    let mut versions = Vec::new();
    if tls12 {
        versions.push(&TLS12);
    }
    if refuse_all || max >= TlsVersion::Tls13 {
        // With refuse_all the config is never used for a handshake; it only has to build.
        versions.push(&TLS13);
    }

    let provider = CryptoProvider {
        cipher_suites: cipher_suites(&s.cipher_suites, tls12, key_type, warnings)?,
        kx_groups: kx_groups(&s.curve_preferences),
        ..aws_lc_rs::default_provider()
    };
    Ok(Negotiation {
        provider,
        versions,
        refuse_all,
    })
}

/// Effective (min, max) after clamping, plus whether min > max.
fn versions(
    min: TlsVersion,
    max: TlsVersion,
    warnings: &mut Vec<String>,
) -> Result<(TlsVersion, TlsVersion, bool), TlsError> {
    // Go's defaults for a server: TLS 1.2 minimum, TLS 1.3 maximum.
    let min_eff = match min {
        TlsVersion::Default => TlsVersion::Tls12,
        TlsVersion::Tls10 | TlsVersion::Tls11 => {
            warnings.push(format!(
                "min_version {} is not supported (rustls implements TLS 1.2 and 1.3 only); using TLS12",
                min.go_name()
            ));
            TlsVersion::Tls12
        }
        v => v,
    };
    let max_eff = match max {
        TlsVersion::Default => TlsVersion::Tls13,
        TlsVersion::Tls10 | TlsVersion::Tls11 => {
            return Err(TlsError::Version(format!(
                "max_version {} leaves no usable TLS version: rustls implements TLS 1.2 and 1.3 only",
                max.go_name()
            )));
        }
        v => v,
    };
    let refuse_all = min_eff > max_eff;
    if refuse_all {
        warnings.push(format!(
            "min_version {} is above max_version {}: every TLS handshake will be refused with a \
             protocol_version alert (as Go does)",
            min.go_name(),
            max.go_name()
        ));
    }
    Ok((min_eff, max_eff, refuse_all))
}

/// The three TLS 1.3 suites (never restricted, as in Go) in the provider's order.
fn tls13_suites() -> impl Iterator<Item = SupportedCipherSuite> {
    go_ordered(aws_lc_rs::DEFAULT_CIPHER_SUITES)
        .into_iter()
        .filter(|s| s.version() == &TLS13)
}

/// Go's fixed server preference (crypto/tls `cipherSuitesPreferenceOrder` and
/// `defaultCipherSuitesTLS13` on hardware with AES-GCM): AES-128-GCM, then AES-256-GCM, then
/// ChaCha20, ECDSA before RSA within each. Go ≥ 1.17 picks by this order whatever the client or
/// the file says, so the config sets `ignore_client_order` and lists suites in this order: the
/// negotiated suite is the one Go would pick, and scanners see a server-enforced order.
pub(crate) fn go_preference_rank(suite: rustls::CipherSuite) -> usize {
    use rustls::CipherSuite as C;
    const ORDER: [rustls::CipherSuite; 9] = [
        C::TLS13_AES_128_GCM_SHA256,
        C::TLS13_AES_256_GCM_SHA384,
        C::TLS13_CHACHA20_POLY1305_SHA256,
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    ORDER
        .iter()
        .position(|s| *s == suite)
        .unwrap_or(ORDER.len())
}

/// `suites` sorted into Go's preference order (stable for anything Go does not rank).
fn go_ordered(suites: &[SupportedCipherSuite]) -> Vec<SupportedCipherSuite> {
    let mut ordered = suites.to_vec();
    ordered.sort_by_key(|s| go_preference_rank(s.suite()));
    ordered
}

/// The rustls TLS 1.2 suite for a Go name; `None` for TLS 1.3 and CBC names.
fn tls12_suite(suite: CipherSuite) -> Option<SupportedCipherSuite> {
    Some(match suite {
        CipherSuite::EcdheEcdsaAes128GcmSha256 => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheEcdsaAes256GcmSha384 => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheRsaAes128GcmSha256 => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheRsaAes256GcmSha384 => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheRsaChacha20Poly1305Sha256 => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256 => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// True when a TLS 1.2 suite can be used with the served key.
fn suite_fits_key(suite: SupportedCipherSuite, key_type: KeyType) -> bool {
    use rustls::CipherSuite as C;
    let rsa = matches!(
        suite.suite(),
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    );
    rsa == key_type.uses_rsa_suites()
}

/// The allowed suites in Go's preference order (see [`go_preference_rank`]); the server's order
/// decides, as in Go, which is also what Go's tests expect (spec §5.2).
fn cipher_suites(
    configured: &[CipherSuite],
    tls12: bool,
    key_type: KeyType,
    warnings: &mut Vec<String>,
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    if configured.is_empty() {
        return Ok(go_ordered(aws_lc_rs::DEFAULT_CIPHER_SUITES));
    }
    for suite in configured.iter().filter(|s| s.is_cbc()) {
        warnings.push(format!(
            "cipher suite {} is not available (rustls has no CBC suites); ignored",
            suite.go_name()
        ));
    }
    let chosen: Vec<SupportedCipherSuite> = go_ordered(aws_lc_rs::DEFAULT_CIPHER_SUITES)
        .into_iter()
        .filter(|s| {
            configured
                .iter()
                .any(|c| tls12_suite(*c).is_some_and(|m| m.suite() == s.suite()))
        })
        .collect();
    if tls12 {
        if chosen.is_empty() {
            return Err(TlsError::CipherSuites(
                "cipher_suites leaves no usable TLS 1.2 cipher suite (CBC suites are not available \
                 in rustls and TLS 1.3 suites do not apply to TLS 1.2): add an ECDHE AES-GCM or \
                 ChaCha20 suite, or set min_version: TLS13"
                    .into(),
            ));
        }
        let fits = chosen.iter().any(|s| suite_fits_key(*s, key_type));
        if !fits {
            warnings.push(format!(
                "no configured TLS 1.2 cipher suite fits the certificate's {} key: TLS 1.2 \
                 clients will fail the handshake",
                key_type.as_str()
            ));
        }
    }
    Ok(tls13_suites().chain(chosen).collect())
}

/// The configured groups in file order, or Go 1.24+'s default set (the provider's defaults,
/// X25519MLKEM768 included, plus P-521, which Go also offers by default).
fn kx_groups(curves: &[Curve]) -> Vec<&'static dyn SupportedKxGroup> {
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    if curves.is_empty() {
        groups.extend(aws_lc_rs::DEFAULT_KX_GROUPS.iter().copied());
        groups.push(SECP521R1);
        return groups;
    }
    for curve in curves {
        let group = match curve {
            Curve::P256 => kx_group::SECP256R1,
            Curve::P384 => kx_group::SECP384R1,
            Curve::P521 => SECP521R1,
            Curve::X25519 => kx_group::X25519,
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    groups
}
