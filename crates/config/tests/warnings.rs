//! `warnings()`: the advice `scrapegate check web-config` prints beyond promtool's verdict.
//! What rustls cannot negotiate (old versions, CBC suites, min above max) is the TLS plan's
//! warning, tested in the TLS crate (`material.rs`); here only that it is not repeated.

use scrapegate_config::{ValidatedConfig, load, warnings, warnings_at};
use scrapegate_testkit::fixtures::{self, Fixtures};
use scrapegate_testkit::pki::{KeyAlg, LeafSpec, self_signed};

const EC_TLS: &str = "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: server_ec.key\n";

fn config(fx: &Fixtures, yaml: &str) -> ValidatedConfig {
    load(&fx.write("t.yml", yaml)).expect("valid config")
}

fn has(warnings: &[String], needle: &str) -> bool {
    warnings.iter().any(|w| w.contains(needle))
}

#[test]
fn clean_ecdsa_config_has_no_warnings() {
    let fx = fixtures::build();
    assert_eq!(warnings(&config(&fx, EC_TLS)), Vec::<String>::new());
    assert_eq!(warnings(&config(&fx, "")), Vec::<String>::new());
}

/// Was three tests (`old_tls_versions`, `min_above_max`, `cbc_only_suites`) whose warnings
/// moved to the TLS plan (`old_tls_versions_warn_once`, `min_above_max_warns`,
/// `cbc_only_suites` in the TLS crate): the same files give no warning here, so `check
/// web-config` never prints one setting twice.
#[test]
fn negotiation_warnings_are_left_to_the_tls_plan() {
    let fx = fixtures::build();
    for extra in [
        "  min_version: TLS10\n",
        "  min_version: TLS10\n  max_version: TLS11\n",
        "  min_version: TLS13\n  max_version: TLS12\n",
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA]\n  max_version: TLS12\n",
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA]\n",
    ] {
        let w = warnings(&config(&fx, &format!("{EC_TLS}{extra}")));
        assert_eq!(w, Vec::<String>::new(), "{extra}");
    }
}

#[test]
fn rsa_server_key() {
    let fx = fixtures::build();
    let w = warnings(&config(
        &fx,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    ));
    assert!(has(&w, "RSA-2048 key"), "{w:?}");
    assert!(has(&w, "ECDSA P-256"), "{w:?}");
}

fn cert_valid_until(fx: &Fixtures, year: i32, month: u8, day: u8) {
    let spec = LeafSpec::server(KeyAlg::EcdsaP256).valid((2020, 1, 1), (year, month, day));
    self_signed(&spec).write(fx.path(), "dated");
}

const DATED_TLS: &str = "tls_server_config:\n  cert_file: dated.crt\n  key_file: dated.key\n";
/// 2030-06-01T00:00:00Z
const NOW: i64 = 1_906_502_400;

#[test]
fn expired_certificate() {
    let fx = fixtures::build();
    cert_valid_until(&fx, 2030, 5, 1);
    let w = warnings_at(&config(&fx, DATED_TLS), NOW);
    assert!(
        has(
            &w,
            "server certificate (CN=localhost) expired on 2030-05-01"
        ),
        "{w:?}"
    );
}

#[test]
fn certificate_expiring_within_30_days() {
    let fx = fixtures::build();
    cert_valid_until(&fx, 2030, 6, 21);
    let w = warnings_at(&config(&fx, DATED_TLS), NOW);
    assert!(has(&w, "expires on 2030-06-21, in 20 days"), "{w:?}");
    cert_valid_until(&fx, 2030, 8, 1);
    let w = warnings_at(&config(&fx, DATED_TLS), NOW);
    assert!(!has(&w, "expire"), "{w:?}");
}

#[test]
fn high_bcrypt_cost() {
    let fx = fixtures::build();
    let w = warnings(&load(&fx.file("web_config_users_noTLS.good.yml")).unwrap());
    assert!(has(&w, "user \"alice\": bcrypt cost 12"), "{w:?}");
    assert!(has(&w, "user \"bob\": bcrypt cost 18"), "{w:?}");
    assert!(!has(&w, "\"carol\""), "{w:?}");
    assert!(has(&w, "clear text"), "{w:?}");
}

#[test]
fn allowed_sans_never_checked() {
    let fx = fixtures::build();
    let w = warnings(&config(
        &fx,
        &format!("{EC_TLS}  client_allowed_sans: [a]\n"),
    ));
    assert!(has(&w, "the SANs are never checked"), "{w:?}");
    let w = warnings(&config(
        &fx,
        &format!("{EC_TLS}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a]\n"),
    ));
    assert!(has(&w, "not verified"), "{w:?}");
}

#[test]
fn client_ca_without_certificates() {
    let fx = fixtures::build();
    let w = warnings(&config(
        &fx,
        &format!(
            "{EC_TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: /dev/null\n"
        ),
    ));
    assert!(has(&w, "the client CA holds no certificate"), "{w:?}");
}
