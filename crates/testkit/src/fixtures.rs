//! The fixture set of spec §7.2, recreated: certificates made at test time with [`crate::pki`],
//! the web.yml files of `crates/config/tests/fixtures/web/` copied next to them, and the
//! outcome the spec gives for each ([`CASES`]). Used by the config tests and the
//! `scrapegate check web-config` tests (promtool differential included).

use std::fs;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use crate::pki::{Ca, KeyAlg, dns, self_signed_ca_client};

/// What `web.Validate` says about a fixture.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Valid.
    Ok,
    /// This exact error text; `{dir}` stands for the fixture directory.
    Err(&'static str),
}

/// How `promtool check web-config` from Prometheus 2.42 relates to a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promtool {
    /// It knows every field and prints the same text.
    Same,
    /// It knows every field and gives the same verdict, but its text is older.
    SameVerdict,
    /// It predates a field the fixture uses (inline PEM, `client_allowed_sans`, `rate_limit`).
    Unknown,
}

/// One fixture file and its expected outcome.
pub struct Case {
    /// The file name in the fixture directory.
    pub file: &'static str,
    /// What `web.Validate` says.
    pub expect: Expect,
    /// How promtool relates to it.
    pub promtool: Promtool,
}

const fn case(file: &'static str, expect: Expect, promtool: Promtool) -> Case {
    Case {
        file,
        expect,
        promtool,
    }
}

use Expect::{Err as E, Ok as OK};
use Promtool::{Same, SameVerdict, Unknown};

/// Every configuration of spec §7.2 with the outcome the spec gives.
pub const CASES: &[Case] = &[
    case("web_config_empty.yml", OK, Same),
    case(
        "web_config_junk.yml",
        E("yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hWkNKCp...` into web.Config"),
        Same,
    ),
    case(
        "web_config_junk_key.yml",
        E("yaml: unmarshal errors:\n  line 2: field cert_filse not found in type web.TLSConfig"),
        Same,
    ),
    case(
        "web_config_noAuth_certPath_empty.bad.yml",
        E("missing one of cert or cert_file"),
        SameVerdict,
    ),
    case(
        "web_config_noAuth_cert_empty.bad.yml",
        E("missing one of cert or cert_file"),
        Unknown,
    ),
    case(
        "web_config_noAuth_keyPath_empty.bad.yml",
        E("missing one of key or key_file"),
        SameVerdict,
    ),
    case(
        "web_config_noAuth_key_empty.bad.yml",
        E("missing one of key or key_file"),
        Unknown,
    ),
    case(
        "web_config_noAuth_certPath_keyPath_empty.bad.yml",
        E("missing one of cert or cert_file"),
        SameVerdict,
    ),
    case(
        "web_config_noAuth_certPath_invalid.bad.yml",
        E(
            "failed to read cert_file ({dir}/somefile): open {dir}/somefile: no such file or directory",
        ),
        SameVerdict,
    ),
    case(
        "web_config_noAuth_keyPath_invalid.bad.yml",
        E(
            "failed to read cert_file ({dir}/server.cert): open {dir}/server.cert: no such file or directory",
        ),
        SameVerdict,
    ),
    case(
        "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
        E(
            "failed to read cert_file ({dir}/somefile): open {dir}/somefile: no such file or directory",
        ),
        SameVerdict,
    ),
    case(
        "web_config_noAuth.bad.yml",
        E("client CA's have been configured without a Client Auth Policy"),
        SameVerdict,
    ),
    case(
        "web_config_auth_clientCAs_invalid.bad.yml",
        E("open {dir}/somefile: no such file or directory"),
        Same,
    ),
    case("web_config_auth_clientCAs_missing.bad.yml", OK, Same),
    case(
        "web_config_auth_user_list_invalid.bad.yml",
        E("crypto/bcrypt: hashedSecret too short to be a bcrypted password"),
        Same,
    ),
    case(
        "web_config_noAuth_inventedCiphers.bad.yml",
        E("unknown cipher: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"),
        Same,
    ),
    case(
        "web_config_noAuth_inventedCurves.bad.yml",
        E("unknown curve: CurveP257"),
        Same,
    ),
    case(
        "web_config_noAuth_wrongTLSVersion.bad.yml",
        E("unknown TLS version: TLS111"),
        Same,
    ),
    case("web_config_noAuth.good.yml", OK, Same),
    case("web_config_noAuth.good.blocking.yml", OK, Same),
    case("web_config_noAuth_tlsInline.good.yml", OK, Unknown),
    case("web_config_noAuth_allCiphers.good.yml", OK, Same),
    case("web_config_noAuth_someCiphers.good.yml", OK, Same),
    case("web_config_noAuth_someCiphers_noOrder.good.yml", OK, Same),
    case("web_config_noAuth_allCurves.good.yml", OK, Same),
    case("web_config_noAuth_someCurves.good.yml", OK, Same),
    case("web_config_noAuth_noHTTP2.good.yml", OK, Same),
    case("web_config_noAuth_noHTTP2Cipher.bad.yml", OK, Same),
    case("tls_config_noAuth.requireanyclientcert.good.yml", OK, Same),
    case(
        "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
        OK,
        Unknown,
    ),
    case(
        "tls_config_noAuth.requireandverifyclientcert.good.yml",
        OK,
        Same,
    ),
    case("web_config_auth_client_san.good.yaml", OK, Unknown),
    case("web_config_auth_client_san.bad.yaml", OK, Unknown),
    case("web_config_headers.good.yml", OK, Same),
    case(
        "web_config_headers_content_type_options.bad.yml",
        E(
            "invalid value for X-Content-Type-Options. Expected one of: [\"nosniff\"], but got: \"sniff\"",
        ),
        Same,
    ),
    case(
        "web_config_headers_frame_options.bad.yml",
        E(
            "invalid value for X-Frame-Options. Expected one of: [\"deny\" \"sameorigin\"], but got: \"foo\"",
        ),
        Same,
    ),
    case(
        "web_config_headers_extra_header.bad.yml",
        E("HTTP header \"Content-Type\" can not be configured"),
        Same,
    ),
    case("web_config_users.good.yml", OK, Same),
    case("web_config_users_noTLS.good.yml", OK, Same),
    case("web_config_rate_limiter_nonblocking.yaml", OK, Unknown),
    case("web_config_rate_limiter_one_second.yaml", OK, Unknown),
];

/// A directory holding the certificates and every fixture web.yml.
pub struct Fixtures {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// PEM of `server.crt` (RSA-2048 leaf for localhost / 127.0.0.1, signed by the test CA).
    pub server_crt: String,
    /// PEM of `server.key` (PKCS#8).
    pub server_key: String,
    /// DER of `server.crt`.
    pub server_der: CertificateDer<'static>,
    /// The DER SubjectPublicKeyInfo of `server.key`.
    pub server_public_key: Vec<u8>,
    /// PEM of `server_ec.crt` (ECDSA P-256 leaf, same CA).
    pub server_ec_crt: String,
    /// PEM of `server_ec.key`.
    pub server_ec_key: String,
}

impl Fixtures {
    /// The directory path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of a file in the fixture directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the fixture directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.file(name);
        fs::write(&path, contents).expect("write fixture");
        path
    }

    /// An expected error text with `{dir}` filled in.
    pub fn expand(&self, text: &str) -> String {
        text.replace("{dir}", &self.path().to_string_lossy())
    }
}

/// `crates/config/tests/fixtures`: the web.yml sources and the fixed RSA key.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tests/fixtures")
}

/// Builds the fixture directory.
pub fn build() -> Fixtures {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("scrapegate test root CA");
    // A fixed RSA key: generating one per test run would be slow.
    let rsa_key_pem =
        fs::read_to_string(source_dir().join("rsa2048.key")).expect("read rsa2048.key");
    let server = ca.server_with_key_pem(&rsa_key_pem);
    let server_ec = ca.server(KeyAlg::EcdsaP256);
    let client = self_signed_ca_client("test", vec![]);
    let client2 = self_signed_ca_client("test3", vec![dns("test3")]);

    let files: [(&str, &str); 9] = [
        ("server.crt", &server.cert_pem),
        ("server.key", &rsa_key_pem),
        ("server_ec.crt", &server_ec.cert_pem),
        ("server_ec.key", &server_ec.key_pem),
        ("tls-ca-chain.pem", &ca.cert_pem),
        ("client_selfsigned.pem", &client.cert_pem),
        ("client_selfsigned.key", &client.key_pem),
        ("client2_selfsigned.pem", &client2.cert_pem),
        ("client2_selfsigned.key", &client2.key_pem),
    ];
    for (name, contents) in files {
        fs::write(dir.path().join(name), contents).expect("write cert");
    }

    for entry in fs::read_dir(source_dir().join("web")).expect("fixture dir") {
        let entry = entry.expect("entry");
        let text = fs::read_to_string(entry.path()).expect("read fixture");
        let text = substitute(&text, "@SERVER_CRT@", &server.cert_pem);
        let text = substitute(&text, "@SERVER_KEY@", &rsa_key_pem);
        fs::write(dir.path().join(entry.file_name()), text).expect("write fixture");
    }
    Fixtures {
        dir,
        server_crt: server.cert_pem,
        server_key: rsa_key_pem,
        server_der: server.cert_der,
        server_public_key: server.public_key_der,
        server_ec_crt: server_ec.cert_pem,
        server_ec_key: server_ec.key_pem,
    }
}

/// Replaces a placeholder that stands alone on an indented line with a multi-line value, each
/// line keeping the placeholder's indentation (for YAML block scalars).
pub fn substitute(text: &str, placeholder: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + value.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == placeholder {
            let indent = &line[..line.len() - line.trim_start().len()];
            for value_line in value.lines() {
                out.push_str(indent);
                out.push_str(value_line);
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    out
}
