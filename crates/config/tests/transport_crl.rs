//! scrapegate.yml's upstream transports (`upstream_tls`, `unix_socket`) and client CRLs
//! (`tls.client_crl_files`): what loads, what each bad input is refused with (one line naming
//! the file, the route or list and the field), which files the watcher is given, and the pair
//! rules that need web.yml (a CRL must be signed by a client CA of a verifying mode).

use std::path::PathBuf;

use scrapegate_config::{load_policy, pair};
use scrapegate_model::{ClientAuth, Policy, RateLimit, TlsVersion, ValidatedConfig};
use scrapegate_testkit::pki::{Ca, KeyAlg, Leaf, dns};
use scrapegate_testkit::tls_settings;
use tempfile::TempDir;

struct Dir {
    dir: TempDir,
    server_ca: Ca,
    client_ca: Ca,
    server: Leaf,
    client: Leaf,
}

fn dir() -> Dir {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("Upstream Root");
    let client_ca = Ca::new("Client Root");
    let server = server_ca.server(KeyAlg::EcdsaP256);
    let client = client_ca.client("gateway", vec![dns("gateway.example")], vec![]);
    server_ca.write(&dir.path().join("upstream-ca.pem"));
    client.write(dir.path(), "client");
    Dir {
        dir,
        server_ca,
        client_ca,
        server,
        client,
    }
}

impl Dir {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn load(&self, yaml: &str) -> Result<Policy, String> {
        load_policy(&self.write("scrapegate.yml", yaml)).map_err(|e| self.shown(&e.to_string()))
    }

    /// `text` with the directory shown as `{dir}`.
    fn shown(&self, text: &str) -> String {
        text.replace(&*self.dir.path().to_string_lossy(), "{dir}")
    }

    /// A web.yml with TLS in `mode`, trusting the client CA.
    fn web(&self, mode: ClientAuth) -> ValidatedConfig {
        let mut tls = tls_settings(&self.server);
        tls.client_auth = mode;
        tls.client_cas = Some(vec![self.client_ca.cert_der.clone()]);
        ValidatedConfig {
            path: "web.yml".into(),
            tls: Some(tls),
            http2: true,
            headers: Vec::new(),
            users: Vec::new(),
            rate_limit: RateLimit::default(),
            files: vec!["web.yml".into()],
        }
    }
}

#[test]
fn upstream_tls_and_unix_socket_load_and_their_files_are_watched() {
    let d = dir();
    let policy = d
        .load(
            "routes:
  - prefix: /secure
    upstream: https://exporter.internal:9100/
    upstream_tls:
      ca_file: upstream-ca.pem
      cert_file: client.crt
      key_file: client.key
      server_name: exporter.internal
      min_version: TLS13
  - prefix: /system
    upstream: https://exporter.internal/
  - prefix: /sock
    upstream: http://localhost/
    unix_socket: /run/exporter.sock
",
        )
        .unwrap();
    let secure = &policy.routes[0].transport;
    let tls = secure.tls.as_ref().expect("TLS");
    assert_eq!(tls.ca.as_deref(), Some(&[d.server_ca.cert_der.clone()][..]));
    assert_eq!(
        tls.client_cert.as_ref().unwrap().chain(),
        std::slice::from_ref(&d.client.cert_der)
    );
    assert_eq!(tls.server_name.as_deref(), Some("exporter.internal"));
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert!(!tls.insecure_skip_verify);
    assert_eq!(secure.unix_socket, None);
    // An https:// upstream without upstream_tls: the system roots and the URL's host.
    let system = policy.routes[1].transport.tls.as_ref().expect("TLS");
    assert!(system.ca.is_none() && system.client_cert.is_none());
    assert_eq!(policy.routes[1].upstream.host_header, "exporter.internal");
    let sock = &policy.routes[2].transport;
    assert!(sock.tls.is_none());
    assert_eq!(sock.unix_socket, Some(PathBuf::from("/run/exporter.sock")));
    assert_eq!(
        policy.files,
        vec![
            d.path("scrapegate.yml"),
            d.path("upstream-ca.pem"),
            d.path("client.crt"),
            d.path("client.key"),
        ]
    );
    // The same files load to an equal policy (so a reload keeps the route's pool), and a
    // rotated key does not.
    let again = load_policy(&d.path("scrapegate.yml")).unwrap();
    assert_eq!(again.routes, policy.routes);
    let rotated = d
        .client_ca
        .client("gateway", vec![dns("gateway.example")], vec![]);
    rotated.write(d.dir.path(), "client");
    let after = load_policy(&d.path("scrapegate.yml")).unwrap();
    assert_ne!(after.routes[0].transport, policy.routes[0].transport);
}

#[test]
fn bad_transports_are_refused_naming_route_and_field() {
    let d = dir();
    d.write("empty.pem", "no certificates here\n");
    let other = Ca::new("Other").client("x", vec![dns("x.example")], vec![]);
    d.write("other.key", &other.key_pem);
    let route = |extra: &str| {
        format!("routes:\n  - prefix: /a\n    upstream: https://exporter:9100/\n{extra}")
    };
    let cases: Vec<(String, &str)> = vec![
        (
            "routes:\n  - prefix: /a\n    upstream: http://exporter:9100/\n    upstream_tls:\n      ca_file: upstream-ca.pem\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls: is set but the upstream is http://; use an https:// upstream",
        ),
        (
            route("    upstream_tls:\n      ca_file: missing.pem\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.ca_file: open {dir}/missing.pem: no such file or directory",
        ),
        (
            route("    upstream_tls:\n      ca_file: empty.pem\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.ca_file: empty.pem: holds no PEM certificate",
        ),
        (
            route("    upstream_tls:\n      cert_file: client.crt\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.key_file: is missing: cert_file needs its key_file",
        ),
        (
            route("    upstream_tls:\n      key_file: client.key\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.cert_file: is missing: key_file needs its cert_file",
        ),
        (
            route("    upstream_tls:\n      cert_file: client.crt\n      key_file: other.key\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls: cert_file client.crt and key_file other.key: tls: private key does not match public key",
        ),
        (
            route("    upstream_tls:\n      min_version: TLS10\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.min_version: TLS10 is not offered: upstream TLS speaks TLS 1.2 and 1.3 only",
        ),
        (
            route("    upstream_tls:\n      min_version: TLS14\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.min_version: unknown TLS version: TLS14 (one of TLS12, TLS13)",
        ),
        (
            route("    upstream_tls:\n      server_name: \"not a name\"\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream_tls.server_name: \"not a name\" is not a DNS name or IP address",
        ),
        (
            route("    unix_socket: run/exporter.sock\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): unix_socket: \"run/exporter.sock\" must be an absolute path",
        ),
        (
            route("    upstream_tls:\n      ca: inline\n"),
            "{dir}/scrapegate.yml: routes[0].upstream_tls: unknown field `ca`, expected one of `ca_file`, `cert_file`, `key_file`, `server_name`, `insecure_skip_verify`, `min_version` at line 5 column 7",
        ),
        (
            "tls:\n  client_crl_files: [missing.crl]\n".into(),
            "{dir}/scrapegate.yml: tls.client_crl_files[0]: open {dir}/missing.crl: no such file or directory",
        ),
        (
            "tls:\n  client_crl_files: [empty.pem]\n".into(),
            "{dir}/scrapegate.yml: tls.client_crl_files[0]: empty.pem is not a certificate revocation list (a PEM X509 CRL block or DER)",
        ),
        (
            "tls:\n  client_crl_files: [upstream-ca.pem]\n".into(),
            "{dir}/scrapegate.yml: tls.client_crl_files[0]: upstream-ca.pem holds no X509 CRL block (PEM) and is not a DER CRL",
        ),
        (
            "tls:\n  client_ca_file: ca.pem\n".into(),
            "{dir}/scrapegate.yml: tls: unknown field `client_ca_file`, expected `client_crl_files` at line 2 column 3",
        ),
    ];
    for (yaml, want) in cases {
        match d.load(&yaml) {
            Ok(p) => panic!("accepted:\n{yaml}\n{p:?}"),
            Err(got) => assert_eq!(got, want, "for:\n{yaml}"),
        }
    }
}

#[test]
fn crls_load_from_pem_and_der_and_join_web_yml_when_signed_by_its_client_ca() {
    let d = dir();
    let revoked = d
        .client_ca
        .client("revoked", vec![dns("r.example")], vec![]);
    std::fs::create_dir_all(d.path("crl")).unwrap();
    d.write("crl/scrapers.crl.pem", d.client_ca.crl(&[&revoked], false));
    d.write("crl/old.crl", d.client_ca.crl_der(&[], true));
    let policy = d
        .load("tls:\n  client_crl_files: [crl/scrapers.crl.pem, crl/old.crl]\n")
        .unwrap();
    assert_eq!(policy.client_crls.len(), 2);
    assert_eq!(policy.client_crls[0].revoked, 1);
    assert_eq!(policy.client_crls[1].next_update_unix, Some(1_609_459_200));
    assert_eq!(
        policy.files,
        vec![
            d.path("scrapegate.yml"),
            d.path("crl/scrapers.crl.pem"),
            d.path("crl/old.crl")
        ]
    );
    for mode in [
        ClientAuth::RequireAndVerifyClientCert,
        ClientAuth::VerifyClientCertIfGiven,
    ] {
        let set = pair(Some(d.web(mode)), Some(policy.clone())).unwrap();
        let tls = set.web.unwrap().tls.unwrap();
        assert_eq!(tls.client_crls, policy.client_crls, "{mode:?}");
    }
}

#[test]
fn crls_that_cannot_apply_are_refused_when_paired() {
    let d = dir();
    let other = Ca::new("Other Root");
    // Same name as the client CA, another key: the name matches, the signature cannot.
    let impostor = Ca::new("Client Root");
    d.write("own.crl.pem", d.client_ca.crl(&[], false));
    d.write("other.crl.pem", other.crl(&[], false));
    d.write("impostor.crl.pem", impostor.crl(&[], false));
    let policy = |file: &str| {
        d.load(&format!("tls:\n  client_crl_files: [{file}]\n"))
            .unwrap()
    };
    let refused = |web: Option<ValidatedConfig>, p: Policy| {
        d.shown(&pair(web, Some(p)).unwrap_err().to_string())
    };
    assert_eq!(
        refused(
            Some(d.web(ClientAuth::RequireAndVerifyClientCert)),
            policy("other.crl.pem")
        ),
        "{dir}/scrapegate.yml: tls.client_crl_files: {dir}/other.crl.pem is issued by CN=Other Root, which is not a CA of client_ca_file"
    );
    assert_eq!(
        refused(
            Some(d.web(ClientAuth::RequireAndVerifyClientCert)),
            policy("impostor.crl.pem")
        ),
        "{dir}/scrapegate.yml: tls.client_crl_files: {dir}/impostor.crl.pem: the signature does not verify against the client CA CN=Client Root"
    );
    for mode in [
        ClientAuth::NoClientCert,
        ClientAuth::RequestClientCert,
        ClientAuth::RequireAnyClientCert,
    ] {
        assert_eq!(
            refused(Some(d.web(mode)), policy("own.crl.pem")),
            format!(
                "{{dir}}/scrapegate.yml: tls.client_crl_files: revocation lists need a client_auth_type that verifies certificates (RequireAndVerifyClientCert or VerifyClientCertIfGiven), not {mode:?}"
            )
        );
    }
    let mut no_tls = d.web(ClientAuth::NoClientCert);
    no_tls.tls = None;
    assert_eq!(
        refused(Some(no_tls), policy("own.crl.pem")),
        "{dir}/scrapegate.yml: tls.client_crl_files: {dir}/own.crl.pem needs TLS with verified client certificates, but web.yml has no tls_server_config"
    );
    assert!(refused(None, policy("own.crl.pem")).contains("no tls_server_config"));
    let mut no_ca = d.web(ClientAuth::RequireAndVerifyClientCert);
    no_ca.tls.as_mut().unwrap().client_cas = None;
    assert_eq!(
        refused(Some(no_ca), policy("own.crl.pem")),
        "{dir}/scrapegate.yml: tls.client_crl_files: revocation lists need web.yml's client_ca_file (the CA that signs them)"
    );
}
