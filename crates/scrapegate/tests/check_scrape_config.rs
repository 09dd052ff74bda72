//! `scrapegate check scrape-config prometheus.yml --web.config.file=web.yml
//! [--config.file=scrapegate.yml] [--target=HOST:PORT]`, run as a real process on real files:
//! one `job "NAME": SUCCESS` / `job "NAME" FAILED: reasons` line per job on stderr, exit 0/1.
//! Every prometheus.yml written here is also given to `promtool check config` (when the
//! Debian package is installed), so each is a configuration Prometheus itself accepts.

use std::fs;
use std::path::Path;
use std::process::Output;

use scrapegate_testkit::pki::{Eku, Leaf};
use scrapegate_testkit::process::run_in;
use scrapegate_testkit::{Ca, TlsSite, dns, hash, tool};

/// The password of every web.yml user here.
const PASSWORD: &str = "scrape-me-please";
/// A bearer token long enough for scrapegate.yml.
const TOKEN: &str = "check-scrape-config-token-0123456789";

/// A TLS gateway site (test PKI, `web.yml` serving `server.crt` for `localhost` and
/// `127.0.0.1`) with users `prometheus` and `alice`, `extra_tls` added to
/// `tls_server_config`, and the password in `secrets/password`.
fn site(extra_tls: &str) -> TlsSite {
    let hashed = hash(PASSWORD);
    let site = TlsSite::new(&format!(
        "{extra_tls}basic_auth_users:\n  prometheus: {hashed}\n  alice: {hashed}\n"
    ));
    fs::create_dir(site.file("secrets")).unwrap();
    fs::write(site.file("secrets/password"), format!("{PASSWORD}\n")).unwrap();
    site
}

/// `scrapegate check scrape-config prometheus.yml --web.config.file=web.yml EXTRA...`, in
/// `dir`, after `promtool check config` accepted the same prometheus.yml.
fn check(dir: &Path, extra: &[&str]) -> Output {
    promtool_accepts(dir);
    let mut args = vec![
        "check",
        "scrape-config",
        "prometheus.yml",
        "--web.config.file=web.yml",
    ];
    args.extend_from_slice(extra);
    run_in(env!("CARGO_BIN_EXE_scrapegate"), &args, dir)
}

/// Prometheus's own verdict on `dir/prometheus.yml` must be SUCCESS (skipped loudly without
/// promtool).
fn promtool_accepts(dir: &Path) {
    let Some(promtool) = tool("/usr/bin/promtool") else {
        return;
    };
    let out = run_in(promtool, &["check", "config", "prometheus.yml"], dir);
    assert!(
        out.status.success(),
        "promtool refused prometheus.yml:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(dir.join("prometheus.yml")).unwrap()
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exact stderr lines and exit code.
#[track_caller]
fn expect(out: &Output, lines: &[&str], code: i32) {
    let mut want = lines.join("\n");
    want.push('\n');
    assert_eq!(stderr(out), want);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(code));
}

/// One scrape job: `job_name`, then `body` (already indented four spaces).
fn job(name: &str, body: &str) -> String {
    format!("  - job_name: {name}\n{body}")
}

fn prometheus_yml(jobs: &[String]) -> String {
    format!(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n{}",
        jobs.concat()
    )
}

/// The body of a job that should be let in: https, basic auth, the site's CA.
const GOOD: &str = "    scheme: https
    basic_auth:
      username: prometheus
      password_file: secrets/password
    tls_config:
      ca_file: ca.pem
    static_configs:
      - targets: ['localhost:9443']
";

#[test]
fn basic_auth_over_tls_succeeds() {
    let site = site("");
    let inline = GOOD
        .replace(
            "password_file: secrets/password",
            &format!("password: {PASSWORD}"),
        )
        .replace("localhost:9443", "127.0.0.1:9443");
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[job("node", GOOD), job("by-ip", &inline)]),
    );
    let out = check(site.path(), &[]);
    expect(
        &out,
        &["job \"node\": SUCCESS", "job \"by-ip\": SUCCESS"],
        0,
    );
}

#[test]
fn wrong_password_unknown_user_and_plain_scheme_fail() {
    let site = site("");
    write(site.path(), "secrets/wrong", "not-the-password\n");
    let wrong = GOOD.replace("secrets/password", "secrets/wrong");
    let unknown = GOOD.replace("username: prometheus", "username: mallory");
    let plain = GOOD.replace("    scheme: https\n", "");
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[
            job("wrong", &wrong),
            job("unknown", &unknown),
            job("plain", &plain),
            job("good", GOOD),
        ]),
    );
    let out = check(site.path(), &[]);
    expect(
        &out,
        &[
            "job \"wrong\" FAILED: the basic_auth password of user \"prometheus\" does not match its bcrypt hash in web.yml (401 Unauthorized)",
            "job \"unknown\" FAILED: basic_auth user \"mallory\" is not in web.yml's basic_auth_users (401 Unauthorized)",
            "job \"plain\" FAILED: scheme is http, but the gateway serves TLS (set scheme: https)",
            "job \"good\": SUCCESS",
        ],
        1,
    );
}

#[test]
fn the_served_certificate_must_verify_with_the_jobs_ca_and_name() {
    let site = site("");
    Ca::new("some other CA").write(&site.file("other-ca.pem"));
    let wrong_ca = GOOD.replace("ca_file: ca.pem", "ca_file: other-ca.pem");
    let wrong_name = GOOD.replace(
        "ca_file: ca.pem",
        "ca_file: ca.pem\n      server_name: node.example",
    );
    let skipped = wrong_ca.replace(
        "ca_file: other-ca.pem",
        "ca_file: other-ca.pem\n      insecure_skip_verify: true",
    );
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[
            job("wrong-ca", &wrong_ca),
            job("wrong-name", &wrong_name),
            job("skip-verify", &skipped),
        ]),
    );
    let out = check(site.path(), &[]);
    expect(
        &out,
        &[
            "job \"wrong-ca\" FAILED: the served certificate does not verify against CA other-ca.pem for \"localhost\": x509: certificate signed by unknown authority",
            "job \"wrong-name\" FAILED: the served certificate does not verify against CA ca.pem for \"node.example\": x509: certificate is valid for localhost, 127.0.0.1, not node.example",
            "job \"skip-verify\": SUCCESS",
        ],
        1,
    );
}

/// scrapegate.yml with the `prometheus` token (from `tokens/prometheus`), a `/node` route
/// for user `alice` and token `prometheus`, and a `/probe` route with an anonymous path.
const POLICY: &str = "bearer_tokens:
  - name: prometheus
    token_file: tokens/prometheus
routes:
  - prefix: /node
    upstream: http://127.0.0.1:9100/
    allow:
      users: [alice]
      tokens: [prometheus]
      methods: [GET]
  - prefix: /probe
    upstream: http://127.0.0.1:9115/
    anonymous: [/probe/metrics]
";

/// A site with [`POLICY`] and the token in `tokens/prometheus` (the gateway's copy) and
/// `secrets/token` (Prometheus's copy).
fn policy_site() -> TlsSite {
    let site = site("");
    fs::create_dir(site.file("tokens")).unwrap();
    write(site.path(), "tokens/prometheus", &format!("{TOKEN}\n"));
    write(site.path(), "secrets/token", &format!("{TOKEN}\n"));
    write(
        site.path(),
        "secrets/wrong-token",
        "an-entirely-wrong-token-0123456789\n",
    );
    write(site.path(), "scrapegate.yml", POLICY);
    site
}

#[test]
fn bearer_tokens_routes_rules_and_anonymous_paths() {
    let site = policy_site();
    let tls = "    scheme: https\n    tls_config:\n      ca_file: ca.pem\n    static_configs:\n      - targets: ['localhost:9443']\n";
    let bearer = format!(
        "    metrics_path: /node/metrics\n    authorization:\n      credentials_file: secrets/token\n{tls}"
    );
    let wrong_token = bearer.replace("secrets/token", "secrets/wrong-token");
    let alice = GOOD
        .replace("username: prometheus", "username: alice")
        .replace(
            "    scheme: https\n",
            "    scheme: https\n    metrics_path: /node/metrics\n",
        );
    // Authenticated as prometheus, but /node admits alice and the prometheus token only.
    let forbidden = GOOD.replace(
        "    scheme: https\n",
        "    scheme: https\n    metrics_path: /node/metrics\n",
    );
    let anonymous = format!("    metrics_path: /probe/metrics\n{tls}");
    let sibling = format!("    metrics_path: /probe/other\n{tls}");
    let nowhere = GOOD.replace(
        "    scheme: https\n",
        "    scheme: https\n    metrics_path: /elsewhere\n",
    );
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[
            job("bearer", &bearer),
            job("wrong-token", &wrong_token),
            job("alice", &alice),
            job("forbidden", &forbidden),
            job("anonymous", &anonymous),
            job("sibling", &sibling),
            job("nowhere", &nowhere),
        ]),
    );
    let out = check(site.path(), &["--config.file=scrapegate.yml"]);
    expect(
        &out,
        &[
            "job \"bearer\": SUCCESS",
            "job \"wrong-token\" FAILED: the authorization credentials match no bearer_tokens entry of scrapegate.yml (401 Unauthorized)",
            "job \"alice\": SUCCESS",
            "job \"forbidden\" FAILED: the allow rule of route /node does not admit user \"prometheus\" (403 Forbidden)",
            "job \"anonymous\": SUCCESS",
            "job \"sibling\" FAILED: no credentials, but the gateway requires basic_auth or a Bearer token (401 Unauthorized)",
            "job \"nowhere\" FAILED: no route of scrapegate.yml serves metrics_path /elsewhere (404 Not Found)",
        ],
        1,
    );
}

#[test]
fn target_selects_the_jobs_checked() {
    let site = policy_site();
    let other = GOOD
        .replace("secrets/password", "secrets/token")
        .replace("localhost:9443", "127.0.0.1:9443");
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[job("good", GOOD), job("broken", &other)]),
    );
    let out = check(site.path(), &["--target=localhost:9443"]);
    expect(&out, &["job \"good\": SUCCESS"], 0);
    let out = check(site.path(), &["--target=127.0.0.1:9443"]);
    expect(
        &out,
        &[
            "job \"broken\" FAILED: the basic_auth password of user \"prometheus\" does not match its bcrypt hash in web.yml (401 Unauthorized)",
        ],
        1,
    );
    let out = check(site.path(), &["--target=nowhere:1"]);
    expect(
        &out,
        &["prometheus.yml FAILED: no scrape job has the static target \"nowhere:1\""],
        1,
    );
}

/// Client certificates: web.yml requires and verifies one from the site CA with SAN
/// `scraper.example` or `other.example`; scrapegate.yml's route admits `scraper.example` only.
#[test]
fn client_certificates_chain_sans_and_rules() {
    let site = TlsSite::new(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [scraper.example, other.example]\n",
    );
    write(
        site.path(),
        "scrapegate.yml",
        "routes:\n  - prefix: /\n    upstream: http://127.0.0.1:9100/\n    allow:\n      client_sans: [scraper.example]\n",
    );
    let client = |sans: &[&str]| -> Leaf {
        site.ca.client(
            "scraper",
            sans.iter().map(|s| dns(s)).collect(),
            vec![Eku::ClientAuth],
        )
    };
    client(&["scraper.example"]).write(site.path(), "scraper");
    client(&["other.example"]).write(site.path(), "other");
    client(&["nobody.example"]).write(site.path(), "nobody");
    Ca::new("stranger CA")
        .client("s", vec![dns("scraper.example")], vec![Eku::ClientAuth])
        .write(site.path(), "stranger");
    // The scraper's certificate with another certificate's key.
    fs::copy(site.file("scraper.crt"), site.file("mismatch.crt")).unwrap();
    fs::copy(site.file("other.key"), site.file("mismatch.key")).unwrap();

    let with_cert = |name: &str| {
        format!(
            "    scheme: https\n    tls_config:\n      ca_file: ca.pem\n      cert_file: {name}.crt\n      key_file: {name}.key\n    static_configs:\n      - targets: ['localhost:9443']\n"
        )
    };
    let without = "    scheme: https\n    tls_config:\n      ca_file: ca.pem\n    static_configs:\n      - targets: ['localhost:9443']\n";
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[
            job("scraper", &with_cert("scraper")),
            job("other", &with_cert("other")),
            job("nobody", &with_cert("nobody")),
            job("stranger", &with_cert("stranger")),
            job("mismatch", &with_cert("mismatch")),
            job("no-cert", without),
        ]),
    );
    let out = check(site.path(), &["--config.file=scrapegate.yml"]);
    expect(
        &out,
        &[
            "job \"scraper\": SUCCESS",
            "job \"other\" FAILED: the allow rule of route / does not admit client SANs other.example (403 Forbidden)",
            "job \"nobody\" FAILED: no SAN of the client certificate (nobody.example) is in client_allowed_sans (TLS handshake refused)",
            "job \"stranger\" FAILED: the client certificate is not signed by a CA of client_ca_file (unknown authority) (TLS handshake refused)",
            "job \"mismatch\" FAILED: tls_config: unable to use specified client cert (mismatch.crt) & key (mismatch.key): tls: private key does not match public key",
            "job \"no-cert\" FAILED: the gateway requires a client certificate (client_auth_type: RequireAndVerifyClientCert), but none is configured (TLS handshake refused)",
        ],
        1,
    );
}

/// A prometheus.yml as people write them: global settings, alerting, relabelling, service
/// discovery, labels, parameters. Nothing but the checked keys matters.
#[test]
fn unknown_prometheus_keys_are_ignored() {
    let site = site("");
    write(site.path(), "targets.json", "[]\n");
    let text = format!(
        "global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels: {{cluster: test}}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['localhost:9093']
scrape_configs:
  - job_name: node
    honor_labels: true
    scrape_interval: 30s
    scrape_timeout: 10s
    follow_redirects: false
    enable_http2: false
    params:
      collect[]: [cpu, meminfo]
    scheme: https
    basic_auth:
      username: prometheus
      password: {PASSWORD}
    tls_config:
      ca_file: ca.pem
      min_version: TLS12
    static_configs:
      - targets: ['localhost:9443']
        labels: {{env: test}}
    file_sd_configs:
      - files: [targets.json]
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
    metric_relabel_configs:
      - action: labeldrop
        regex: go_.*
"
    );
    write(site.path(), "prometheus.yml", &text);
    let out = check(site.path(), &[]);
    expect(&out, &["job \"node\": SUCCESS"], 0);
}

#[test]
fn a_plain_gateway_without_users_lets_plain_jobs_in() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "web.yml",
        "http_server_config:\n  http2: true\n",
    );
    let tls_job = "    scheme: https\n    static_configs:\n      - targets: ['localhost:9100']\n";
    let plain = "    static_configs:\n      - targets: ['localhost:9100']\n";
    write(
        dir.path(),
        "prometheus.yml",
        &prometheus_yml(&[job("plain", plain), job("tls", tls_job)]),
    );
    let out = check(dir.path(), &[]);
    expect(
        &out,
        &[
            "job \"plain\": SUCCESS",
            "job \"tls\" FAILED: scheme is https, but the gateway serves plain HTTP (no TLS in web.yml)",
        ],
        1,
    );
}

#[test]
fn files_that_do_not_load_fail_clearly() {
    let site = site("");
    let run = |args: &[&str]| run_in(env!("CARGO_BIN_EXE_scrapegate"), args, site.path());
    let out = run(&[
        "check",
        "scrape-config",
        "prometheus.yml",
        "--web.config.file=web.yml",
    ]);
    expect(
        &out,
        &["prometheus.yml FAILED: open prometheus.yml: no such file or directory"],
        1,
    );
    write(
        site.path(),
        "prometheus.yml",
        &prometheus_yml(&[job("node", GOOD)]),
    );
    let out = run(&[
        "check",
        "scrape-config",
        "prometheus.yml",
        "--web.config.file=nope.yml",
    ]);
    expect(
        &out,
        &["nope.yml FAILED: open nope.yml: no such file or directory"],
        1,
    );
    write(site.path(), "scrapegate.yml", "routes:\n  - prefix: node\n");
    let out = run(&[
        "check",
        "scrape-config",
        "prometheus.yml",
        "--web.config.file=web.yml",
        "--config.file=scrapegate.yml",
    ]);
    let text = stderr(&out);
    assert!(text.starts_with("scrapegate.yml FAILED: "), "{text}");
    assert_eq!(out.status.code(), Some(1));
    write(
        site.path(),
        "prometheus.yml",
        "scrape_configs:\n  - job_name: [a\n",
    );
    let out = run(&[
        "check",
        "scrape-config",
        "prometheus.yml",
        "--web.config.file=web.yml",
    ]);
    let text = stderr(&out);
    assert!(text.starts_with("prometheus.yml FAILED: "), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(out.status.code(), Some(1));
}
