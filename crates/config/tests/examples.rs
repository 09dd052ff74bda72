//! The example web.yml files in `config/` validate, without warnings, against certificates made
//! by `config/gen-certs.sh` (needs openssl; skipped loudly without it).

use std::path::Path;
use std::process::Command;

use scrapegate_config::{ClientAuth, decode_web_yml, load, warnings};
use scrapegate_testkit::openssl;

#[test]
fn examples_validate_with_generated_certificates() {
    let Some(_) = openssl() else { return };
    let repo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "gen-certs.sh",
        "web-tls.yml",
        "web-tls-users.yml",
        "web-mtls.yml",
    ] {
        std::fs::copy(repo_config.join(name), tmp.path().join(name)).unwrap();
    }
    let status = Command::new("sh")
        .arg(tmp.path().join("gen-certs.sh"))
        .output()
        .expect("run gen-certs.sh");
    assert!(
        status.status.success(),
        "gen-certs.sh failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    for name in ["web-tls.yml", "web-tls-users.yml", "web-mtls.yml"] {
        let cfg = load(&tmp.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(cfg.tls.is_some(), "{name}");
        assert_eq!(warnings(&cfg), Vec::<String>::new(), "{name}");
    }
    let users = load(&tmp.path().join("web-tls-users.yml")).unwrap();
    assert_eq!(users.users.len(), 1);
    // The hash as written (the validated config holds it parsed).
    let raw = decode_web_yml(&std::fs::read(tmp.path().join("web-tls-users.yml")).unwrap());
    let raw_users = raw.unwrap().users.expect("basic_auth_users");
    assert_eq!(raw_users[0].0, users.users[0].name);
    assert!(
        bcrypt_matches("scrape-me", &raw_users[0].1),
        "documented password matches"
    );
    let mtls = load(&tmp.path().join("web-mtls.yml")).unwrap();
    let tls = mtls.tls.unwrap();
    assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(
        tls.client_allowed_sans,
        Some(vec!["prometheus".to_string()])
    );
    assert_eq!(
        mtls.files,
        vec![
            tmp.path().join("web-mtls.yml"),
            tmp.path().join("certs/server.crt"),
            tmp.path().join("certs/server.key"),
            tmp.path().join("certs/ca.crt"),
        ]
    );
}

/// Checks the documented password against the hash with `htpasswd -v` when it is installed;
/// without it only the hash format is checked (and that is said loudly).
fn bcrypt_matches(password: &str, hash: &str) -> bool {
    if scrapegate_model::GoBcryptHash::parse(hash).is_err() {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("u:{hash}\n")).unwrap();
    match Command::new("htpasswd")
        .args(["-vb"])
        .arg(&file)
        .args(["u", password])
        .output()
    {
        Ok(out) => out.status.success(),
        Err(_) => {
            eprintln!("SKIPPED: htpasswd not installed, only the hash format was checked");
            true
        }
    }
}
