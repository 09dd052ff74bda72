//! The TLS plan: everything decided about one `tls_server_config` before a connection is
//! served — protocol versions, cipher suites and groups (clamped where rustls cannot follow
//! Go), Go's HTTP/2 cipher requirement, the client-certificate verifier — and the warnings
//! those decisions raise. `check web-config`, start-up and every reload go through [`plan`],
//! so one file gets one verdict and one set of warnings everywhere.

use std::sync::Arc;

use rustls::SupportedProtocolVersion;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::UnixTime;
use scrapegate_model::{CipherSuite, ServerCertificate, TlsSettings, TlsVersion};

use crate::client_auth::ClientVerifier;
use crate::error::TlsError;
use crate::negotiation;
use crate::revocation::Revocation;
use crate::state::{ConnPolicy, TrustInputs};

/// Go's `http2.ConfigureServer` text for a cipher list without an HTTP/2-required suite.
const HTTP2_CIPHER_MISSING: &str = "http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)";

/// A planned TLS configuration: ready to become acceptor state, not yet serving.
pub struct TlsPlan {
    /// Settings that were clamped, have no effect, or will refuse clients (for the log and
    /// `check web-config`).
    pub warnings: Vec<String>,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    pub(crate) verifier: Arc<ClientVerifier>,
    pub(crate) certificate: ServerCertificate,
    pub(crate) policy: ConnPolicy,
    pub(crate) trust: TrustInputs,
    pub(crate) http2: bool,
}

impl std::fmt::Debug for TlsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The certificate's facts are in `ServerCertificate`'s own Debug; no key material.
        f.debug_struct("TlsPlan").finish_non_exhaustive()
    }
}

impl TlsPlan {
    /// True when ALPN offers `h2`.
    pub fn http2(&self) -> bool {
        self.http2
    }
}

/// Plans `settings` for serving with HTTP/2 on or off. Fails where the gateway would refuse to
/// serve the file: no usable protocol version or cipher suite, or Go's start-up check that an
/// HTTP/2 server's cipher list holds an AES-128-GCM suite.
pub fn plan(settings: &TlsSettings, http2: bool) -> Result<TlsPlan, TlsError> {
    check_http2_ciphers(settings, http2)?;
    let mut warnings = Vec::new();
    let negotiated =
        negotiation::negotiate(settings, settings.certificate.key_type, &mut warnings)?;
    let provider = Arc::new(negotiated.provider);
    let verifier = Arc::new(ClientVerifier::new(settings, &provider, &mut warnings));
    let now = UnixTime::now().as_secs();
    let revocation = Revocation::of(
        &settings.client_crls,
        i64::try_from(now).unwrap_or(i64::MAX),
        &mut warnings,
    );
    Ok(TlsPlan {
        warnings,
        policy: ConnPolicy {
            mode: settings.client_auth,
            allowed_sans: settings.client_allowed_sans.as_deref().map(Arc::from),
            refuse_all: negotiated.refuse_all,
            revocation: Arc::new(revocation),
        },
        trust: TrustInputs::of(settings),
        provider,
        versions: negotiated.versions,
        verifier,
        certificate: settings.certificate.clone(),
        http2,
    })
}

/// Go's serve-time check (`http2.ConfigureServer`), which `web.Validate` does not run: with
/// HTTP/2 on, a TLS 1.2-capable cipher list must hold an AES-128-GCM ECDHE suite.
fn check_http2_ciphers(tls: &TlsSettings, http2: bool) -> Result<(), TlsError> {
    if !http2 || tls.cipher_suites.is_empty() || tls.min_version >= TlsVersion::Tls13 {
        return Ok(());
    }
    let has_required = tls.cipher_suites.iter().any(|s| {
        matches!(
            s,
            CipherSuite::EcdheRsaAes128GcmSha256 | CipherSuite::EcdheEcdsaAes128GcmSha256
        )
    });
    if has_required {
        Ok(())
    } else {
        Err(TlsError::Http2Cipher(HTTP2_CIPHER_MISSING))
    }
}
