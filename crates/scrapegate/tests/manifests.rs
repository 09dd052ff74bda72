//! The Kubernetes manifests in `config/kubernetes/` agree with the binary: they parse as YAML, every
//! flag they pass to scrapegate exists in `scrapegate --help`, the paths they mount are the paths the
//! mounted web.yml and flags refer to, and no mount uses subPath (which never sees Secret updates).

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
    let out = Command::new(env!("CARGO_BIN_EXE_scrapegate"))
        .arg("--help")
        .output()
        .expect("run scrapegate --help");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
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
            for arg in container["args"].as_sequence().unwrap() {
                let arg = arg.as_str().unwrap();
                let flag = arg.split('=').next().unwrap();
                assert!(flag.starts_with("--"), "{file}: odd argument {arg}");
                assert!(
                    help.contains(&format!("{flag}=")) || help.contains(&format!("{flag} ")),
                    "{file}: flag {flag} is not in `scrapegate --help`"
                );
                if flag == "--web.config.file" {
                    config_path = Some(arg.split_once('=').unwrap().1.to_string());
                }
            }
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
}
