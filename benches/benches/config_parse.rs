//! web.yml parse + validate cost: a realistic TLS + users + headers file.
//!
//! `load` is what a reload pays (read web.yml, YAML decode, hash checks, read and match the
//! certificate and key); `parse` is the YAML decode alone, the part exporter-toolkit repeats on
//! every request (about 15 µs there, spec peers §9); `yaml_tree_only` is the yaml-rust2 event
//! parse into the node tree, the larger part of `parse`.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use scrapegate_testkit::pki::{KeyAlg, LeafSpec, self_signed};

const WEB_YML: &str = "\
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: server.crt
  min_version: TLS12
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: true
  headers:
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
basic_auth_users:
  alice: $2y$12$zGP4ylN2t99AhjPWtL4cSusJO8yffCoYVERHVXtvncVdoq8ibFLWS
  carol: $2y$10$DtgXzqxP/.i9z2f0rsyUWu/exqD2WrNtfNxLwx6bVV8PHLz/Y2SXy
  dave: $2y$10$Mu2XMUqBM9VF2ZNfWuviCehK7uUWfUvHCxy7tB/F7rjtv2iDECW9m
  prometheus: $2y$10$5o5EwtsPftSkWF1Nn6oFyu0hXieYY4w7opQ/qJ/zA7mvEH8THae9W
rate_limit:
  interval: 100ms
  burst: 50
";

/// A directory with web.yml and an ECDSA P-256 certificate and key; removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup() -> Dir {
    let dir = std::env::temp_dir().join(format!("scrapegate-bench-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    self_signed(&LeafSpec::server(KeyAlg::EcdsaP256)).write(&dir, "server");
    std::fs::write(dir.join("web.yml"), WEB_YML).expect("write web.yml");
    Dir(dir)
}

fn config_parse(c: &mut Criterion) {
    let dir = setup();
    let path = dir.0.join("web.yml");
    scrapegate_config::load(&path).expect("the bench config is valid");

    let mut group = c.benchmark_group("config");
    group.bench_function("load_tls_users", |b| {
        b.iter(|| scrapegate_config::load(std::hint::black_box(&path)).expect("valid"))
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            scrapegate_config::decode_web_yml(std::hint::black_box(WEB_YML.as_bytes()))
                .expect("valid")
        })
    });
    group.bench_function("yaml_tree_only", |b| {
        b.iter(|| {
            scrapegate_config::parse_first_document(std::hint::black_box(WEB_YML)).expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, config_parse);
criterion_main!(benches);
