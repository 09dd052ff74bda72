//! Every configuration of spec §7.2, recreated as fixtures, with the outcome the spec gives.

#[path = "common/fixtures.rs"]
mod fixtures;

use fixtures::{CASES, Expect};
use scrapegate_config::{check_http2_cipher_requirement, load};

#[test]
fn every_fixture_validates_as_the_spec_says() {
    let fx = fixtures::build();
    let mut failures = Vec::new();
    for case in CASES {
        let got = load(&fx.file(case.file));
        match (case.expect, &got) {
            (Expect::Ok, Ok(_)) => {}
            (Expect::Err(want), Err(e)) if fx.expand(want) == e.to_string() => {}
            (want, got) => failures.push(format!("{}: want {want:?}, got {got:?}", case.file)),
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn no_http2_cipher_fixture_passes_validate_but_fails_the_serve_check() {
    let fx = fixtures::build();
    let cfg = load(&fx.file("web_config_noAuth_noHTTP2Cipher.bad.yml")).expect("Validate passes");
    let err = check_http2_cipher_requirement(&cfg).expect_err("serve check fails");
    assert_eq!(
        err.to_string(),
        "http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)"
    );
    let cfg = load(&fx.file("web_config_noAuth_noHTTP2.good.yml")).expect("valid");
    check_http2_cipher_requirement(&cfg).expect("http2 off: no check");
    let cfg = load(&fx.file("web_config_noAuth_someCiphers.good.yml")).expect("valid");
    check_http2_cipher_requirement(&cfg).expect("AES-128-GCM listed");
}

#[test]
fn inline_material_equals_the_files() {
    let fx = fixtures::build();
    let inline = load(&fx.file("web_config_noAuth_tlsInline.good.yml")).expect("valid");
    let tls = inline.tls.expect("TLS on");
    assert_eq!(tls.cert_chain_pem, fx.server_crt.as_bytes());
    assert_eq!(&tls.key_pem[..], fx.server_key.as_bytes());
    assert_eq!(tls.cert_file, None);
    assert_eq!(
        inline.files,
        vec![fx.file("web_config_noAuth_tlsInline.good.yml")]
    );
}

#[test]
fn files_lists_web_yml_and_joined_references() {
    let fx = fixtures::build();
    let path = fx.file("tls_config_noAuth.requireandverifyclientcert.good.yml");
    let cfg = load(&path).expect("valid");
    assert_eq!(
        cfg.files,
        vec![
            path,
            fx.file("server.crt"),
            fx.file("server.key"),
            fx.file("client_selfsigned.pem"),
        ]
    );
    let tls = cfg.tls.expect("TLS on");
    assert!(tls.client_ca_pem.is_some());
    assert_eq!(
        tls.client_auth,
        scrapegate_config::ClientAuth::RequireAndVerifyClientCert
    );
}

#[test]
fn users_are_kept_in_file_order() {
    let fx = fixtures::build();
    let cfg = load(&fx.file("web_config_users_noTLS.good.yml")).expect("valid");
    let names: Vec<&str> = cfg.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave"]);
    assert!(cfg.tls.is_none());
}
