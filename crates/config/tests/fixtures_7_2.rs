//! Every configuration of spec §7.2, recreated as fixtures, with the outcome the spec gives.

use scrapegate_config::{CipherSuite, TlsVersion, load};
use scrapegate_testkit::fixtures::{self, CASES, Expect};

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

/// `web.Validate` accepts the file; the serve-time HTTP/2 cipher check that refuses it is the
/// TLS plan's (tested there, `no_http2_cipher_fixture_fails_the_serve_check`, with these
/// settings).
#[test]
fn no_http2_cipher_fixture_passes_validate_but_fails_the_serve_check() {
    let fx = fixtures::build();
    let cfg = load(&fx.file("web_config_noAuth_noHTTP2Cipher.bad.yml")).expect("Validate passes");
    assert!(cfg.http2);
    let tls = cfg.tls.expect("TLS on");
    assert_eq!(tls.cipher_suites, [CipherSuite::EcdheRsaAes256GcmSha384]);
    assert_eq!(tls.max_version, TlsVersion::Tls12);
    let cfg = load(&fx.file("web_config_noAuth_noHTTP2.good.yml")).expect("valid");
    assert!(!cfg.http2, "http2 off: no check");
    let cfg = load(&fx.file("web_config_noAuth_someCiphers.good.yml")).expect("valid");
    assert!(
        cfg.tls
            .expect("TLS on")
            .cipher_suites
            .contains(&CipherSuite::EcdheRsaAes128GcmSha256),
        "AES-128-GCM listed"
    );
}

#[test]
fn inline_material_equals_the_files() {
    let fx = fixtures::build();
    let inline = load(&fx.file("web_config_noAuth_tlsInline.good.yml")).expect("valid");
    let tls = inline.tls.expect("TLS on");
    assert_eq!(
        tls.certificate.chain(),
        std::slice::from_ref(&fx.server_der)
    );
    assert_eq!(served_public_key(&tls), fx.server_public_key);
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
    assert!(tls.client_cas.is_some());
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

/// The served key's public half, as a DER SubjectPublicKeyInfo.
fn served_public_key(tls: &scrapegate_config::TlsSettings) -> Vec<u8> {
    let spki = tls.certificate.certified_key.key.public_key();
    spki.expect("public key").as_ref().to_vec()
}
