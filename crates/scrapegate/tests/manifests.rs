//! The Kubernetes manifests in `config/kubernetes/` agree with the binary: they parse as YAML, every
//! flag they pass to scrapegate exists in `scrapegate --help`, the paths they mount are the paths the
//! mounted web.yml and flags refer to, and no mount uses subPath (which never sees Secret updates).
//! Exec probes run the binary at the Dockerfile's path with a subcommand and flags that exist, and
//! probe the `--web.health-address` the container is started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/kubernetes")
}

/// Every YAML document of every manifest file.
fn documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(manifests_dir())
        .expect("config/kubernetes exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "no manifests found");
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
            if !value.is_null() {
                docs.push((path.display().to_string(), value));
            }
        }
    }
    docs
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("")
}

fn help_text() -> String {
    help_of(&[])
}

/// `scrapegate [SUBCOMMAND...] --help`.
fn help_of(subcommand: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scrapegate"))
        .args(subcommand)
        .arg("--help")
        .output()
        .expect("run scrapegate --help");
    assert!(
        out.status.success(),
        "scrapegate {subcommand:?} --help failed"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// True when `help` documents `--flag` (as `--flag <VALUE>` or `--flag=...`).
fn documents_flag(help: &str, flag: &str) -> bool {
    help.contains(&format!("{flag}=")) || help.contains(&format!("{flag} "))
}

/// The binary's path in the image: the first element of the Dockerfile's exec-form
/// `ENTRYPOINT`.
fn image_binary_path() -> String {
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).expect("Dockerfile exists");
    let line = text
        .lines()
        .find(|l| l.starts_with("ENTRYPOINT"))
        .expect("Dockerfile has an ENTRYPOINT");
    line.split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("ENTRYPOINT is not in exec form: {line}"))
        .to_string()
}

/// Checks the exec probes of a scrapegate container: the image's binary, a subcommand that
/// exists, flags that subcommand knows, and (for `healthcheck`) a URL on the container's
/// `--web.health-address`. Returns how many exec probes it checked.
fn check_exec_probes(file: &str, container: &Value, health_address: Option<&str>) -> usize {
    let binary = image_binary_path();
    let mut checked = 0;
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(command) = container[probe]["exec"]["command"].as_sequence() else {
            continue;
        };
        let argv: Vec<&str> = command
            .iter()
            .map(|a| a.as_str().expect("probe command items are strings"))
            .collect();
        assert_eq!(
            argv.first().copied(),
            Some(binary.as_str()),
            "{file}: {probe} must run the image's binary"
        );
        let subcommand = *argv
            .get(1)
            .unwrap_or_else(|| panic!("{file}: {probe} runs no subcommand"));
        assert!(
            !subcommand.starts_with('-'),
            "{file}: {probe} must run a subcommand (serve would start a second gateway)"
        );
        let help = help_of(&[subcommand]);
        let mut url = None;
        let mut rest = argv[2..].iter().peekable();
        while let Some(arg) = rest.next() {
            assert!(arg.starts_with("--"), "{file}: {probe}: odd argument {arg}");
            let (flag, value) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                // `--flag value`: the next item, unless it is a flag itself.
                None => (
                    *arg,
                    rest.next_if(|next| !next.starts_with("--"))
                        .map(|v| v.to_string()),
                ),
            };
            assert!(
                documents_flag(&help, flag),
                "{file}: {probe}: flag {flag} is not in `scrapegate {subcommand} --help`"
            );
            if flag == "--url" {
                url = value;
            }
        }
        if subcommand == "healthcheck" {
            let url = url.unwrap_or_else(|| panic!("{file}: {probe} passes no --url"));
            let health = health_address.unwrap_or_else(|| {
                panic!(
                    "{file}: {probe} runs healthcheck but the container has no --web.health-address"
                )
            });
            let path = if probe == "livenessProbe" {
                "/-/healthy"
            } else {
                "/-/ready"
            };
            assert_eq!(
                url,
                format!("http://{health}{path}"),
                "{file}: {probe} must probe {path} on --web.health-address"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_document_has_kind_and_name() {
    for (file, doc) in documents() {
        assert!(!kind(&doc).is_empty(), "{file}: document without kind");
        assert!(
            !name(&doc).is_empty(),
            "{file}: document without metadata.name"
        );
    }
}

#[test]
fn manifests_agree_with_the_binary_and_the_mounted_web_config() {
    let docs = documents();
    let help = help_text();

    // Secrets by name: their keys, and stringData for the web.yml.
    let mut secrets: BTreeMap<String, Value> = BTreeMap::new();
    let mut certificate_secrets = Vec::new();
    for (_, doc) in &docs {
        match kind(doc) {
            "Secret" => {
                secrets.insert(name(doc).to_string(), doc.clone());
            }
            "Certificate" => {
                certificate_secrets.push(doc["spec"]["secretName"].as_str().unwrap().to_string())
            }
            _ => {}
        }
    }

    let mut checked_containers = 0;
    let mut checked_probes = 0;
    for (file, doc) in &docs {
        if !matches!(kind(doc), "DaemonSet" | "Deployment" | "StatefulSet") {
            continue;
        }
        let pod = &doc["spec"]["template"]["spec"];
        let volumes: BTreeMap<String, String> = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| {
                Some((
                    v["name"].as_str()?.to_string(),
                    v["secret"]["secretName"].as_str()?.to_string(),
                ))
            })
            .collect();
        for container in pod["containers"].as_sequence().unwrap() {
            if container["name"].as_str() != Some("scrapegate") {
                continue;
            }
            checked_containers += 1;
            // Mount path → Secret name; and no subPath anywhere.
            let mut mounts: Vec<(String, String)> = Vec::new();
            for m in container["volumeMounts"].as_sequence().unwrap() {
                assert!(
                    m.get("subPath").is_none(),
                    "{file}: subPath mounts never receive Secret updates"
                );
                let volume = m["name"].as_str().unwrap();
                if let Some(secret) = volumes.get(volume) {
                    mounts.push((m["mountPath"].as_str().unwrap().to_string(), secret.clone()));
                }
            }
            // Resolves a file path to (secret name, key) through the mounts.
            let resolve = |path: &str| -> (String, String) {
                let (dir, key) = path.rsplit_once('/').unwrap();
                let (_, secret) = mounts
                    .iter()
                    .find(|(mount, _)| mount == dir)
                    .unwrap_or_else(|| panic!("{file}: {path} is not inside a mounted Secret"));
                (secret.clone(), key.to_string())
            };

            let mut config_path = None;
            let mut health_address = None;
            for arg in container["args"].as_sequence().unwrap() {
                let arg = arg.as_str().unwrap();
                let flag = arg.split('=').next().unwrap();
                assert!(flag.starts_with("--"), "{file}: odd argument {arg}");
                assert!(
                    documents_flag(&help, flag),
                    "{file}: flag {flag} is not in `scrapegate --help`"
                );
                if flag == "--web.config.file" {
                    config_path = Some(arg.split_once('=').unwrap().1.to_string());
                }
                if flag == "--web.health-address" {
                    health_address = Some(arg.split_once('=').unwrap().1.to_string());
                }
            }
            checked_probes += check_exec_probes(file, container, health_address.as_deref());
            let config_path = config_path.expect("scrapegate gets --web.config.file");
            let (secret, key) = resolve(&config_path);
            let web_yml = secrets[&secret]["stringData"][key.as_str()]
                .as_str()
                .unwrap_or_else(|| panic!("Secret {secret} has no {key}"));
            let web: Value = serde_yaml::from_str(web_yml).unwrap();
            for field in ["cert_file", "key_file", "client_ca_file"] {
                if let Some(path) = web["tls_server_config"][field].as_str() {
                    let (secret, key) = resolve(path);
                    let provided = secrets
                        .get(&secret)
                        .map(|s| s["stringData"].get(key.as_str()).is_some())
                        .unwrap_or(false)
                        || (certificate_secrets.contains(&secret)
                            && ["tls.crt", "tls.key", "ca.crt"].contains(&key.as_str()));
                    assert!(
                        provided,
                        "{file}: {field} {path} is not provided by Secret {secret}"
                    );
                }
            }
        }
    }
    assert!(checked_containers > 0, "no scrapegate container found");
    assert!(checked_probes > 0, "no scrapegate exec probe found");
}
