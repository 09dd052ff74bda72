//! Spec §3.3: odd configurations the toolkit accepts, which scrapegate must accept too (one
//! test per row), with what the validated value then holds.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use scrapegate_config::{CipherSuite, ClientAuth, TlsVersion, ValidatedConfig, load};
use scrapegate_model::GoBcryptHash;
use scrapegate_testkit::fixtures::{self, Fixtures};

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
const HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

fn accepted(fx: &Fixtures, yaml: &str) -> ValidatedConfig {
    let path = fx.write("t.yml", yaml);
    match load(&path) {
        Ok(c) => c,
        Err(e) => panic!("{yaml:?} should be accepted, got: {e}"),
    }
}

#[test]
fn min_above_max() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
    );
    let tls = c.tls.unwrap();
    assert_eq!(
        (tls.min_version, tls.max_version),
        (TlsVersion::Tls13, TlsVersion::Tls12)
    );
}

#[test]
fn tls10_to_tls11() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        &format!("{TLS}  min_version: TLS10\n  max_version: TLS11\n"),
    );
    let tls = c.tls.unwrap();
    assert_eq!(
        (tls.min_version, tls.max_version),
        (TlsVersion::Tls10, TlsVersion::Tls11)
    );
}

#[test]
fn only_tls13_cipher_names() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        &format!("{TLS}  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256]\n"),
    );
    assert_eq!(
        c.tls.unwrap().cipher_suites,
        vec![
            CipherSuite::TlsAes128GcmSha256,
            CipherSuite::TlsChacha20Poly1305Sha256
        ]
    );
}

#[test]
fn empty_allowed_sans_list_is_kept_and_null_is_unset() {
    let fx = fixtures::build();
    let mode = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client2_selfsigned.pem\n";
    let c = accepted(&fx, &format!("{TLS}{mode}  client_allowed_sans: []\n"));
    assert_eq!(c.tls.unwrap().client_allowed_sans, Some(vec![]));
    let c = accepted(&fx, &format!("{TLS}{mode}  client_allowed_sans:\n"));
    assert_eq!(c.tls.unwrap().client_allowed_sans, None);
}

#[test]
fn non_pem_client_ca_under_verifying_mode() {
    let fx = fixtures::build();
    fx.write("notpem.txt", "this is not PEM\n");
    let c = accepted(
        &fx,
        &format!(
            "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: notpem.txt\n"
        ),
    );
    // Go's AppendCertsFromPEM finds nothing: an empty pool, not an error.
    assert_eq!(c.tls.unwrap().client_cas, Some(Vec::new()));
}

#[test]
fn require_and_verify_without_any_ca() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
    );
    let tls = c.tls.unwrap();
    assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert!(tls.client_cas.is_none());
}

#[test]
fn allowed_sans_with_no_client_cert() {
    let fx = fixtures::build();
    let c = accepted(&fx, &format!("{TLS}  client_allowed_sans: [a]\n"));
    let tls = c.tls.unwrap();
    assert_eq!(tls.client_auth, ClientAuth::NoClientCert);
    assert_eq!(tls.client_allowed_sans, Some(vec!["a".to_string()]));
}

#[test]
fn cert_and_cert_file_both_set_file_wins() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        &format!(
            "{TLS}  cert: garbage\n  key: garbage\n  client_ca: garbage\n  client_ca_file: client_selfsigned.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
        ),
    );
    let tls = c.tls.unwrap();
    assert_eq!(
        tls.certificate.chain(),
        std::slice::from_ref(&fx.server_der)
    );
    let key = tls.certificate.certified_key.key.public_key();
    assert_eq!(key.expect("public key").as_ref(), fx.server_public_key);
    let ca = std::fs::read(fx.file("client_selfsigned.pem")).unwrap();
    let ca = CertificateDer::from_pem_slice(&ca).unwrap();
    assert_eq!(tls.client_cas, Some(vec![ca]));
}

#[test]
fn mixed_file_cert_and_inline_key() {
    let fx = fixtures::build();
    let c = load(&fx.file("tls_config_noAuth.requireanyclientcertkeyinline.good.yml")).unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.key_file, None);
    assert_eq!(tls.client_auth, ClientAuth::RequireAnyClientCert);
}

#[test]
fn blank_free_form_headers_are_kept_with_empty_values() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        "http_server_config:\n  headers:\n    Content-Security-Policy:\n    X-XSS-Protection: \"\"\n    Strict-Transport-Security: ~\n",
    );
    let headers: Vec<(&str, &[u8])> = c
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    // Header names are sent as HTTP/2 needs them: lower case.
    assert_eq!(
        headers,
        [
            ("content-security-policy", &b""[..]),
            ("x-xss-protection", b""),
            ("strict-transport-security", b""),
        ]
    );
}

#[test]
fn odd_bcrypt_strings_that_cost_accepts() {
    let fx = fixtures::build();
    let tail = &HASH[7..]; // 53 characters of salt and hash
    let odd = [
        format!("$2$10${tail}"),
        format!("$2z$10${tail}"),
        format!("$1y$10${tail}"),
        format!("{HASH}trailing-junk"),
        format!("$2y_10_{tail}"),
    ];
    for hash in &odd {
        let c = accepted(&fx, &format!("basic_auth_users:\n  u: \"{hash}\"\n"));
        assert_eq!(c.users[0].hash, GoBcryptHash::parse(hash).unwrap());
    }
}

#[test]
fn negative_rate_limit_values() {
    let fx = fixtures::build();
    let c = accepted(&fx, "rate_limit:\n  interval: -1s\n  burst: -5\n");
    assert_eq!(c.rate_limit.interval_nanos, -1_000_000_000);
    assert_eq!(c.rate_limit.burst, -5);
}

#[test]
fn empty_cipher_list_is_go_default() {
    let fx = fixtures::build();
    let c = accepted(&fx, &format!("{TLS}  cipher_suites: []\n"));
    assert!(c.tls.unwrap().cipher_suites.is_empty());
}

#[test]
fn tls_fields_without_material_leave_tls_off() {
    let fx = fixtures::build();
    let c = accepted(
        &fx,
        "tls_server_config:\n  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  client_allowed_sans: [x]\n",
    );
    assert!(c.tls.is_none());
    assert_eq!(c.files, vec![fx.file("t.yml")]);
}
