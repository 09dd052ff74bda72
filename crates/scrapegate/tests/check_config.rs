//! `scrapegate check config scrapegate.yml --web.config.file=web.yml`, run as a real process:
//! promtool-style `FILE SUCCESS` / `FILE FAILED: reason` on stderr and exit 0/1, for the
//! policy alone, the pair, and a web.yml that fails by itself.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use scrapegate_testkit::hash;
use scrapegate_testkit::process::run_in;

/// A token long enough to be accepted.
const TOKEN: &str = "check-config-test-token-0123456789";

/// `scrapegate ARGS` run in `dir`, to completion.
fn scrapegate(args: &[&str], dir: &Path) -> Output {
    run_in(env!("CARGO_BIN_EXE_scrapegate"), args, dir)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory with `web.yml` (users `prometheus` and `alice`, no TLS) and a token file.
fn dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hashed = hash("scrape-me");
    fs::write(
        dir.path().join("web.yml"),
        format!("basic_auth_users:\n  prometheus: {hashed}\n  alice: {hashed}\n"),
    )
    .unwrap();
    fs::create_dir(dir.path().join("tokens")).unwrap();
    fs::write(dir.path().join("tokens/grafana"), format!("{TOKEN}\n")).unwrap();
    dir
}

const POLICY: &str = "bearer_tokens:
  - name: grafana
    token_file: tokens/grafana
routes:
  - prefix: /node
    upstream: http://127.0.0.1:9100/
    allow:
      users: [prometheus]
      tokens: [grafana]
      methods: [GET, HEAD]
    anonymous: [/node/-/healthy]
";

#[test]
fn a_good_pair_succeeds() {
    let dir = dir();
    fs::write(dir.path().join("scrapegate.yml"), POLICY).unwrap();
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=web.yml",
        ],
        dir.path(),
    );
    assert_eq!(stderr(&out), "scrapegate.yml SUCCESS\n");
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_policy_without_user_rules_needs_no_web_yml() {
    let dir = dir();
    let policy = POLICY.replace("      users: [prometheus]\n", "");
    fs::write(dir.path().join("p.yml"), policy).unwrap();
    let out = scrapegate(&["check", "config", "p.yml"], dir.path());
    assert_eq!(stderr(&out), "p.yml SUCCESS\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_bad_policy_fails_with_its_reason() {
    let dir = dir();
    fs::write(
        dir.path().join("scrapegate.yml"),
        POLICY.replace("[GET, HEAD]", "[GET, get]"),
    )
    .unwrap();
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file",
            "web.yml",
        ],
        dir.path(),
    );
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: routes[0] (prefix /node): allow.methods: \"get\" is not an HTTP \
         method: methods are upper case (GET)\n"
    );
    assert_eq!(out.status.code(), Some(1));

    fs::write(dir.path().join("scrapegate.yml"), "routes:\n  - prefx: /\n").unwrap();
    let out = scrapegate(&["check", "config", "scrapegate.yml"], dir.path());
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: routes[0]: unknown field `prefx`, expected one of `prefix`, \
         `upstream`, `allow`, `anonymous`, `upstream_tls`, `unix_socket`, `coalesce` at line 2 column 5\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_missing_token_file_names_the_path() {
    let dir = dir();
    fs::remove_file(dir.path().join("tokens/grafana")).unwrap();
    fs::write(dir.path().join("scrapegate.yml"), POLICY).unwrap();
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=web.yml",
        ],
        dir.path(),
    );
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: bearer_tokens[0] (name grafana): token_file: open \
         tokens/grafana: no such file or directory\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_missing_policy_file_fails() {
    let dir = dir();
    let out = scrapegate(&["check", "config", "nope.yml"], dir.path());
    assert_eq!(
        stderr(&out),
        "nope.yml FAILED: open nope.yml: no such file or directory\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_user_web_yml_lacks_fails_the_pair() {
    let dir = dir();
    fs::write(
        dir.path().join("scrapegate.yml"),
        POLICY.replace("[prometheus]", "[prometheus, bob]"),
    )
    .unwrap();
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=web.yml",
        ],
        dir.path(),
    );
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: routes[0] (prefix /node): allow.users: \"bob\" is not a user in \
         web.yml basic_auth_users\n"
    );
    assert_eq!(out.status.code(), Some(1));

    // The same policy with no web.yml at all: no route may name users.
    let out = scrapegate(&["check", "config", "scrapegate.yml"], dir.path());
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: routes[0] (prefix /node): allow.users: \"prometheus\" names a \
         web.yml user, but no web.yml is given (--web.config.file)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_broken_web_yml_is_reported_for_itself() {
    let dir = dir();
    fs::write(dir.path().join("scrapegate.yml"), POLICY).unwrap();
    fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n",
    )
    .unwrap();
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=web.yml",
        ],
        dir.path(),
    );
    assert_eq!(
        stderr(&out),
        "web.yml FAILED: missing one of key or key_file\n"
    );
    assert_eq!(out.status.code(), Some(1));

    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=none.yml",
        ],
        dir.path(),
    );
    assert_eq!(
        stderr(&out),
        "none.yml FAILED: open none.yml: no such file or directory\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_example_policy_without_its_web_yml_names_the_user() {
    // config/scrapegate.yml names web-tls-users.yml's user; checked alone, that is an error.
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let out = scrapegate(&["check", "config", "scrapegate.yml"], &config);
    assert_eq!(
        stderr(&out),
        "scrapegate.yml FAILED: routes[0] (prefix /node): allow.users: \"prometheus\" names a \
         web.yml user, but no web.yml is given (--web.config.file)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_example_pair_succeeds_with_generated_certificates() {
    // The command config/README.md documents, on a copy of config/ with throwaway
    // certificates from gen-certs.sh (needs openssl; skipped loudly without it).
    let Some(_) = scrapegate_testkit::openssl() else {
        return;
    };
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let dir = tempfile::tempdir().unwrap();
    for name in ["gen-certs.sh", "web-tls-users.yml", "scrapegate.yml"] {
        fs::copy(config.join(name), dir.path().join(name)).unwrap();
    }
    let gen_certs = Command::new("sh")
        .arg("gen-certs.sh")
        .current_dir(dir.path())
        .output()
        .expect("run gen-certs.sh");
    assert!(
        gen_certs.status.success(),
        "gen-certs.sh: {}",
        stderr(&gen_certs)
    );
    let out = scrapegate(
        &[
            "check",
            "config",
            "scrapegate.yml",
            "--web.config.file=web-tls-users.yml",
        ],
        dir.path(),
    );
    assert_eq!(stderr(&out), "scrapegate.yml SUCCESS\n");
    assert_eq!(out.status.code(), Some(0));
}
