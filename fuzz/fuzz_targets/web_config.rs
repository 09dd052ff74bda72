//! web.yml parse + validate. Each input is decoded from bytes (`validate::parse_raw`, yaml.v2
//! `UnmarshalStrict` semantics) and also written to one per-process temp file and run through
//! the full `scrapegate_config::load` (`web.Validate` plus loading), next to a throwaway
//! certificate, key and client CA so the TLS steps are reached. Checks: no panic; both entry
//! points agree on syntax/decode errors; a loaded config's hashes all parse, `files` starts
//! with the web.yml, and `warnings` / `check_http2_cipher_requirement` / `referenced_files`
//! run on it without panicking; decoding is deterministic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scrapegate_config::decode_web_yml as parse_raw;

const SERVER_CRT: &[u8] = include_bytes!("../pki/server.crt");
const SERVER_KEY: &[u8] = include_bytes!("../pki/server.key");
const CLIENT_CA: &[u8] = include_bytes!("../pki/client_selfsigned.pem");

fn web_yml() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("scrapegate-fuzz-web-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in [
            ("server.crt", SERVER_CRT),
            ("server.key", SERVER_KEY),
            ("client_selfsigned.pem", CLIENT_CA),
            ("client2_selfsigned.pem", CLIENT_CA),
        ] {
            std::fs::write(dir.join(name), data).unwrap();
        }
        dir.join("web.yml")
    })
}

/// Files `load` would read must be regular files, directories or missing: a fuzzed
/// `cert_file: /dev/zero` or a FIFO would hang the run without saying anything about the
/// parser.
fn safe_to_load(path: &Path) -> bool {
    scrapegate_config::referenced_files(path)
        .iter()
        .skip(1)
        .all(|f| {
            f == Path::new("/dev/null")
                || match std::fs::metadata(f) {
                    Ok(m) => m.is_file() || m.is_dir(),
                    Err(_) => true,
                }
        })
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_raw(data);
    let again = parse_raw(data);
    assert_eq!(parsed.is_ok(), again.is_ok());
    if let (Err(a), Err(b)) = (&parsed, &again) {
        assert_eq!(a, b, "decoding is deterministic");
    }
    if let Err(e) = &parsed {
        assert!(!e.to_string().is_empty());
    }

    let path = web_yml();
    std::fs::write(path, data).unwrap();
    if !safe_to_load(path) {
        return;
    }
    let loaded = scrapegate_config::load(path);
    match (&parsed, &loaded) {
        (Err(p), Err(l)) => assert_eq!(p, l, "load reports the decode error unchanged"),
        (Err(p), Ok(_)) => panic!("parse_raw refused ({p}) but load accepted"),
        (Ok(_), _) => {}
    }
    if let Ok(cfg) = &loaded {
        assert_eq!(cfg.files.first().map(PathBuf::as_path), Some(path));
        let _ = scrapegate_config::warnings(cfg);
        if let Some(tls) = &cfg.tls {
            let _ = scrapegate_tls::plan(tls, cfg.http2);
        }
    }
});
