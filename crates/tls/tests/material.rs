//! Every key type served (spec §5.7; the PEM formats themselves are the config crate's, see
//! its `key_formats` tests), and the plan's clamping of settings rustls cannot honour
//! ("deliberately differs" 5) with its warnings, which are the only TLS warnings: the config
//! crate's `warnings()` never repeats them.

mod common;

use common::with;
use scrapegate_model::{CipherSuite, TlsSettings, TlsVersion};
use scrapegate_testkit::pki::{Ca, KeyAlg};
use scrapegate_testkit::tls_client::{ClientOpts, accepted, client_config};
use scrapegate_testkit::tls_settings as settings;
use scrapegate_tls::{TlsAcceptor, plan};

/// 4096-01-01T00:00:00Z, rcgen's default notAfter.
const RCGEN_NOT_AFTER: i64 = 67_090_118_400;

async fn serves(ca: &Ca, s: &TlsSettings) {
    let (mut server, _) = with(s).await;
    for tls12_only in [false, true] {
        let opts = ClientOpts {
            tls12_only,
            ..Default::default()
        };
        accepted(&mut server, client_config(&ca.cert_der, &opts)).await;
    }
}

fn has(warnings: &[String], needle: &str) -> bool {
    warnings.iter().any(|w| w.contains(needle))
}

#[tokio::test]
async fn pkcs8_keys_of_every_type() {
    let ca = Ca::new("Root");
    for alg in KeyAlg::ALL {
        let want = alg.key_type();
        let leaf = ca.server(alg);
        let s = settings(&leaf);
        let acceptor = TlsAcceptor::new(&plan(&s, true).unwrap()).unwrap();
        assert_eq!(acceptor.current().key_type, want);
        assert_eq!(acceptor.current().cert_not_after_unix, RCGEN_NOT_AFTER);
        serves(&ca, &s).await;
    }
}

#[test]
fn default_settings_plan_without_warnings() {
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    let plan = plan(&settings(&leaf), true).unwrap();
    assert_eq!(plan.warnings, Vec::<String>::new());
}

#[test]
fn legacy_versions_are_clamped_or_refused() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls10;
    let warnings = plan(&s, true).unwrap().warnings;
    assert!(has(&warnings, "min_version TLS10"), "{warnings:?}");

    s.max_version = TlsVersion::Tls11;
    let err = plan(&s, true).unwrap_err().to_string();
    assert!(err.contains("max_version TLS11"), "{err}");
}

/// Was config's `warnings()` test `old_tls_versions`: one warning, from the plan only.
#[test]
fn old_tls_versions_warn_once() {
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls10;
    let warnings = plan(&s, true).unwrap().warnings;
    assert_eq!(
        warnings,
        [
            "min_version TLS10 is not supported (rustls implements TLS 1.2 and 1.3 only); using TLS12"
        ]
    );
    s.max_version = TlsVersion::Tls11;
    assert_eq!(
        plan(&s, true).unwrap_err().to_string(),
        "max_version TLS11 leaves no usable TLS version: rustls implements TLS 1.2 and 1.3 only"
    );
}

/// Was config's `warnings()` test `min_above_max`.
#[test]
fn min_above_max_warns() {
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Tls12;
    let warnings = plan(&s, true).unwrap().warnings;
    assert!(
        has(&warnings, "min_version TLS13 is above max_version TLS12"),
        "{warnings:?}"
    );
}

/// Was config's `warnings()` test `cbc_only_suites`: a CBC suite is dropped with one warning;
/// a list left without a TLS 1.2 suite is refused (one verdict everywhere).
#[test]
fn cbc_only_suites() {
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.cipher_suites = vec![CipherSuite::EcdheEcdsaAes128CbcSha];
    s.max_version = TlsVersion::Tls12;
    let err = plan(&s, false).unwrap_err().to_string();
    assert!(err.contains("no usable TLS 1.2 cipher suite"), "{err}");
    s.max_version = TlsVersion::Default;
    let err = plan(&s, false).unwrap_err().to_string();
    assert!(err.contains("no usable TLS 1.2 cipher suite"), "{err}");

    s.cipher_suites = vec![
        CipherSuite::EcdheEcdsaAes128CbcSha,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
    ];
    let warnings = plan(&s, true).unwrap().warnings;
    assert_eq!(
        warnings,
        [
            "cipher suite TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA is not available (rustls has no CBC suites); ignored"
        ]
    );
}

#[test]
fn cipher_lists_without_a_usable_tls12_suite_fail_with_a_reason() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.cipher_suites = vec![
        CipherSuite::EcdheEcdsaAes128CbcSha,
        CipherSuite::TlsAes128GcmSha256,
    ];
    s.max_version = TlsVersion::Tls12;
    let err = plan(&s, false).unwrap_err().to_string();
    assert!(err.contains("no usable TLS 1.2 cipher suite"), "{err}");
    // TLS 1.3 only: the list does not matter (Go ignores it for 1.3).
    s.min_version = TlsVersion::Tls13;
    s.max_version = TlsVersion::Tls13;
    assert!(plan(&s, false).is_ok());
}

#[test]
fn suites_not_fitting_the_key_warn_and_prefer_server_does_not() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::EcdsaP256);
    let mut s = settings(&leaf);
    s.cipher_suites = vec![CipherSuite::EcdheRsaAes128GcmSha256];
    s.prefer_server_cipher_suites = true;
    let warnings = plan(&s, true).unwrap().warnings;
    assert!(has(&warnings, "fits the certificate"), "{warnings:?}");
    // prefer_server_cipher_suites defaults to true in Go, so it must not warn by itself.
    assert!(
        !has(&warnings, "prefer_server_cipher_suites"),
        "{warnings:?}"
    );
}

/// Was config's `no_http2_cipher_fixture_passes_validate_but_fails_the_serve_check` (the
/// fixture's settings; the config test keeps that `web.Validate` accepts the file): Go's
/// serve-time HTTP/2 rule, with Go's text, from the plan every path uses.
#[test]
fn no_http2_cipher_fixture_fails_the_serve_check() {
    let ca = Ca::new("Root");
    let leaf = ca.server(KeyAlg::Rsa2048);
    let mut s = settings(&leaf);
    s.client_auth = scrapegate_model::ClientAuth::VerifyClientCertIfGiven;
    s.cipher_suites = vec![CipherSuite::EcdheRsaAes256GcmSha384];
    s.max_version = TlsVersion::Tls12;
    assert_eq!(
        plan(&s, true).unwrap_err().to_string(),
        "http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)"
    );
    // web_config_noAuth_noHTTP2.good.yml: the same list with http2 off.
    plan(&s, false).expect("http2 off: no check");
    // web_config_noAuth_someCiphers.good.yml: AES-128-GCM listed.
    s.cipher_suites = vec![
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::EcdheRsaAes256GcmSha384,
    ];
    s.min_version = TlsVersion::Tls12;
    plan(&s, true).expect("AES-128-GCM listed");
}
