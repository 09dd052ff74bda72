//! One test per row of spec §3.2 (invalid configurations), asserting the exact error text,
//! plus Go's other `X509KeyPair` texts (§3.1 step 9) and the I/O error forms.

use std::path::Path;

use scrapegate_config::load;
use scrapegate_testkit::fixtures::{self, Fixtures};

const HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

fn error_of(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("{} should be refused", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Writes `yaml` as `t.yml` in the fixture dir and returns the load error.
fn refused(fx: &Fixtures, yaml: &str) -> String {
    error_of(&fx.write("t.yml", yaml))
}

fn with_user_hash(fx: &Fixtures, hash: &str) -> String {
    refused(fx, &format!("basic_auth_users:\n  john: {hash}\n"))
}

#[test]
fn file_does_not_exist() {
    let fx = fixtures::build();
    let path = fx.file("nope.yml");
    assert_eq!(
        error_of(&path),
        format!("open {}: no such file or directory", path.display())
    );
}

#[test]
fn reading_a_directory() {
    let fx = fixtures::build();
    let dir = fx.file("sub");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(
        error_of(&dir),
        format!("read {}: is a directory", dir.display())
    );
    let e = refused(
        &fx,
        "tls_server_config:\n  cert_file: sub\n  key_file: server.key\n",
    );
    assert_eq!(
        e,
        format!(
            "failed to read cert_file ({0}): read {0}: is a directory",
            dir.display()
        )
    );
}

#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("SKIPPED: running as root, file permissions are not enforced");
        return;
    }
    let fx = fixtures::build();
    let path = fx.write("locked.yml", "");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(
        error_of(&path),
        format!("open {}: permission denied", path.display())
    );
}

#[test]
fn unknown_key_anywhere() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, "tls_server_config:\n  cert_filse: server.crt\n"),
        "yaml: unmarshal errors:\n  line 2: field cert_filse not found in type web.TLSConfig"
    );
    assert_eq!(
        refused(&fx, "TLS_server_config: {}\n"),
        "yaml: unmarshal errors:\n  line 1: field TLS_server_config not found in type web.Config"
    );
}

#[test]
fn duplicate_key() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            &format!("basic_auth_users:\n  alice: {HASH}\n  alice: {HASH}\n")
        ),
        "yaml: unmarshal errors:\n  line 3: key \"alice\" already set in map"
    );
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  http2: true\nhttp_server_config:\n  http2: false\n"
        ),
        "yaml: unmarshal errors:\n  line 3: field http_server_config already set in type web.Config"
    );
}

#[test]
fn plain_text_not_a_map() {
    let fx = fixtures::build();
    assert_eq!(
        error_of(&fx.file("web_config_junk.yml")),
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hWkNKCp...` into web.Config"
    );
    assert_eq!(
        refused(&fx, "short\n"),
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `short` into web.Config"
    );
}

#[test]
fn empty_cert_file_with_key_file() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: \"\"\n  key_file: server.key\n"
        ),
        "missing one of cert or cert_file"
    );
}

#[test]
fn key_file_only() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, "tls_server_config:\n  key_file: server.key\n"),
        "missing one of cert or cert_file"
    );
}

#[test]
fn client_auth_type_only() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"
        ),
        "missing one of cert or cert_file"
    );
}

#[test]
fn cert_file_with_empty_key() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key: \"\"\n"
        ),
        "missing one of key or key_file"
    );
}

#[test]
fn cert_file_missing() {
    let fx = fixtures::build();
    let missing = fx.file("missing");
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: missing\n  key_file: server.key\n"
        ),
        format!(
            "failed to read cert_file ({0}): open {0}: no such file or directory",
            missing.display()
        )
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: missing\n"
        ),
        format!(
            "failed to read key_file ({0}): open {0}: no such file or directory",
            missing.display()
        )
    );
}

#[test]
fn relative_paths_join_like_go() {
    // Config `./t.yml`: filepath.Join(".", "nope.pem") is "nope.pem".
    let fx = fixtures::build();
    fx.write(
        "t.yml",
        "tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n",
    );
    // The only test in this binary that uses a relative path, so changing the working
    // directory cannot disturb the others.
    let previous = std::env::current_dir().unwrap();
    std::env::set_current_dir(fx.path()).unwrap();
    let result = load(Path::new("./t.yml"));
    std::env::set_current_dir(previous).unwrap();
    assert_eq!(
        result.unwrap_err().to_string(),
        "failed to read cert_file (nope.pem): open nope.pem: no such file or directory"
    );
}

#[test]
fn inline_cert_hello() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert: hello\n  key_file: server.key\n"
        ),
        "failed to load X509KeyPair: tls: failed to find any PEM data in certificate input"
    );
}

#[test]
fn mismatched_cert_and_key() {
    let fx = fixtures::build();
    // RSA certificate, ECDSA key.
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server_ec.key\n"
        ),
        "failed to load X509KeyPair: tls: private key type does not match public key type"
    );
    // ECDSA certificate, another ECDSA key.
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: client_selfsigned.key\n"
        ),
        "failed to load X509KeyPair: tls: private key does not match public key"
    );
    // Same curve, different key.
    let other = fixtures::build();
    std::fs::write(fx.file("other_ec.key"), &other.server_ec_key).unwrap();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: other_ec.key\n"
        ),
        "failed to load X509KeyPair: tls: private key does not match public key"
    );
}

#[test]
fn other_x509_key_pair_texts() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key: nothing\n"
        ),
        "failed to load X509KeyPair: tls: failed to find any PEM data in key input"
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n"
        ),
        "failed to load X509KeyPair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n"
        ),
        "failed to load X509KeyPair: tls: found a certificate rather than a key in the PEM for the private key"
    );
    fx.write(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: bad.key\n"
        ),
        "failed to load X509KeyPair: tls: failed to parse private key"
    );
    // An X25519 key parses as PKCS#8 in Go 1.25, but is no signing key.
    fx.write(
        "x25519.key",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIOi3+igMzyvHpz3t7/p/409CGEvmc8dzco8sIgEabI1A\n-----END PRIVATE KEY-----\n",
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: x25519.key\n"
        ),
        "failed to load X509KeyPair: tls: found unknown private key type in PKCS#8 wrapping"
    );
    // Only the first *PRIVATE KEY block counts, and encrypted keys are not supported.
    fx.write(
        "enc.key",
        &format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\naGVsbG8=\n-----END ENCRYPTED PRIVATE KEY-----\n{}",
            fx.server_key
        ),
    );
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: enc.key\n"
        ),
        "failed to load X509KeyPair: tls: failed to parse private key"
    );
}

#[test]
fn client_ca_file_missing() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            &format!(
                "{TLS}  client_ca_file: missing\n  client_auth_type: RequireAndVerifyClientCert\n"
            )
        ),
        format!(
            "open {}: no such file or directory",
            fx.file("missing").display()
        )
    );
}

#[test]
fn client_auth_type_wrong_case() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            &format!("{TLS}  client_auth_type: requireandverifyclientcert\n")
        ),
        "invalid ClientAuth: requireandverifyclientcert"
    );
}

#[test]
fn client_ca_without_policy() {
    let fx = fixtures::build();
    let want = "client CA's have been configured without a Client Auth Policy";
    assert_eq!(
        refused(
            &fx,
            &format!("{TLS}  client_ca_file: client_selfsigned.pem\n")
        ),
        want
    );
    assert_eq!(
        refused(
            &fx,
            &format!(
                "{TLS}  client_ca_file: client_selfsigned.pem\n  client_auth_type: NoClientCert\n"
            )
        ),
        want
    );
    assert_eq!(
        refused(&fx, &format!("{TLS}  client_ca: not a pem\n")),
        want
    );
    // A readable but empty CA also reaches this step (step 12), a missing one does not.
    assert_eq!(
        refused(&fx, &format!("{TLS}  client_ca_file: /dev/null\n")),
        want
    );
}

#[test]
fn unknown_tls_version() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, &format!("{TLS}  min_version: TLS111\n")),
        "unknown TLS version: TLS111"
    );
    assert_eq!(
        refused(&fx, &format!("{TLS}  max_version: tls12\n")),
        "unknown TLS version: tls12"
    );
}

#[test]
fn unknown_cipher() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            &format!("{TLS}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048]\n")
        ),
        "unknown cipher: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"
    );
    // Go 1.25 no longer lists RSA key exchange suites.
    assert_eq!(
        refused(
            &fx,
            &format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n")
        ),
        "unknown cipher: TLS_RSA_WITH_AES_128_GCM_SHA256"
    );
}

#[test]
fn unknown_curve() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, &format!("{TLS}  curve_preferences: [CurveP257]\n")),
        "unknown curve: CurveP257"
    );
    assert_eq!(
        refused(&fx, &format!("{TLS}  curve_preferences: [x25519]\n")),
        "unknown curve: x25519"
    );
    assert_eq!(
        refused(
            &fx,
            &format!("{TLS}  curve_preferences: [X25519MLKEM768]\n")
        ),
        "unknown curve: X25519MLKEM768"
    );
}

#[test]
fn header_name_not_allowed() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  headers:\n    Content-Type: foo\n"
        ),
        "HTTP header \"Content-Type\" can not be configured"
    );
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  headers:\n    x-frame-options: deny\n"
        ),
        "HTTP header \"x-frame-options\" can not be configured"
    );
}

#[test]
fn bad_enumerated_header_value() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  headers:\n    X-Frame-Options: DENY\n"
        ),
        "invalid value for X-Frame-Options. Expected one of: [\"deny\" \"sameorigin\"], but got: \"DENY\""
    );
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n"
        ),
        "invalid value for X-Content-Type-Options. Expected one of: [\"nosniff\"], but got: \"sniff\""
    );
    assert_eq!(
        refused(
            &fx,
            "http_server_config:\n  headers:\n    X-Content-Type-Options: \"\"\n"
        ),
        "invalid value for X-Content-Type-Options. Expected one of: [\"nosniff\"], but got: \"\""
    );
}

#[test]
fn bcrypt_hash_too_short() {
    let fx = fixtures::build();
    for hash in ["doe", "\"\"", "12345"] {
        assert_eq!(
            with_user_hash(&fx, hash),
            "crypto/bcrypt: hashedSecret too short to be a bcrypted password",
            "{hash}"
        );
    }
}

#[test]
fn bcrypt_hash_without_dollar() {
    let fx = fixtures::build();
    let hash = format!("x{}", &HASH[1..]);
    assert_eq!(
        with_user_hash(&fx, &hash),
        "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with 'x'"
    );
}

#[test]
fn bcrypt_version_too_new() {
    let fx = fixtures::build();
    let hash = format!("$3y{}", &HASH[3..]);
    assert_eq!(
        with_user_hash(&fx, &hash),
        "crypto/bcrypt: bcrypt algorithm version '3' requested is newer than current version '2'"
    );
}

#[test]
fn bcrypt_cost_out_of_range() {
    let fx = fixtures::build();
    let hash = format!("$2y$32{}", &HASH[6..]);
    assert_eq!(
        with_user_hash(&fx, &hash),
        "crypto/bcrypt: cost 32 is outside allowed range (4,31)"
    );
}

#[test]
fn bcrypt_cost_not_digits() {
    let fx = fixtures::build();
    let hash = format!("$2y$ab{}", &HASH[6..]);
    assert_eq!(
        with_user_hash(&fx, &hash),
        "strconv.Atoi: parsing \"ab\": invalid syntax"
    );
}

#[test]
fn bcrypt_checked_before_tls() {
    let fx = fixtures::build();
    assert_eq!(
        refused(
            &fx,
            "tls_server_config:\n  cert_file: missing\nbasic_auth_users:\n  john: doe\n"
        ),
        "crypto/bcrypt: hashedSecret too short to be a bcrypted password"
    );
}

#[test]
fn quoted_http2_false() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, "http_server_config:\n  http2: \"false\"\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `false` into bool"
    );
}

#[test]
fn rate_limit_interval_in_days() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, "rate_limit:\n  interval: 1d\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `1d` into time.Duration"
    );
}

#[test]
fn tab_indentation() {
    let fx = fixtures::build();
    assert_eq!(
        refused(&fx, "tls_server_config:\n\tcert_file: x\n"),
        "yaml: line 2: found character that cannot start any token"
    );
}
