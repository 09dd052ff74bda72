//! The serve-time HTTP/2 cipher check (spec §3.1): Go's `http2.ConfigureServer` refuses a
//! restricted TLS 1.2 suite list without an AES-128-GCM ECDHE suite.

use crate::ConfigError;
use crate::model::{CipherSuite, TlsSettings, TlsVersion, ValidatedConfig};

/// Go's text, verbatim.
const MISSING: &str = "http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)";

/// Fails like Go's server start when HTTP/2 is on, `cipher_suites` is set and TLS 1.2 (or
/// older) is allowed, but neither required suite is listed. `promtool check web-config` does
/// not run this check; `scrapegate serve` does.
pub fn check_http2_cipher_requirement(cfg: &ValidatedConfig) -> Result<(), ConfigError> {
    match &cfg.tls {
        Some(tls) => check_http2_ciphers(tls, cfg.http2),
        None => Ok(()),
    }
}

/// The same check on the TLS settings alone (the TLS crate runs it whenever it builds state).
pub fn check_http2_ciphers(tls: &TlsSettings, http2: bool) -> Result<(), ConfigError> {
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
        Err(ConfigError::new(MISSING))
    }
}
