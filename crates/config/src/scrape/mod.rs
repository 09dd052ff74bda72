//! The scrape jobs of a Prometheus `prometheus.yml`, as far as a gateway in front of the
//! targets cares: scheme, `metrics_path`, credentials (`basic_auth`, `authorization`, the
//! deprecated `bearer_token[_file]`, `oauth2`), `tls_config` and the static targets. For
//! `scrapegate check scrape-config`.
//!
//! The file is read with serde_yaml (merge keys applied, as yaml.v2 does) into small private
//! structs ([`raw`]) that ignore every other key, so any configuration Prometheus accepts
//! loads here. Paths are joined with the file's directory, as Prometheus does. Secrets and
//! certificates are not read at load: a job's [`Material`] is read by the checker, so a
//! missing `password_file` fails that job, not the whole file. What Prometheus itself refuses
//! in a job's HTTP client settings (`password` and `password_file` both set, ...) is kept in
//! [`ScrapeJob::problems`] with Prometheus's text.

mod raw;

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use scrapegate_model::ServerCertificate;
use serde_yaml::Value;

use crate::ConfigError;
use crate::go::{io, path as gopath};
use crate::keypair::x509_key_pair;
use crate::validate::append_certs_from_pem;
use raw::{RawAuthorization, RawBasicAuth, RawJob, RawTlsConfig};

/// A value given inline or by a file (joined with prometheus.yml's directory).
#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    /// Written in prometheus.yml.
    Inline(String),
    /// Read from this file when needed.
    File(PathBuf),
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Inline values may be passwords or tokens.
            Self::Inline(_) => f.write_str("Inline(..)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl Material {
    /// The bytes as given (a file read whole).
    pub fn bytes(&self) -> Result<Vec<u8>, ConfigError> {
        match self {
            Self::Inline(text) => Ok(text.as_bytes().to_vec()),
            Self::File(path) => io::read_file(&path.to_string_lossy()).map_err(ConfigError::new),
        }
    }

    /// The value as Prometheus sends it: inline values as written, a file's content with
    /// surrounding white space removed (Go's `strings.TrimSpace`, as Prometheus's
    /// `FileSecret` does).
    pub fn secret(&self) -> Result<Vec<u8>, ConfigError> {
        let bytes = self.bytes()?;
        Ok(match self {
            Self::Inline(_) => bytes,
            Self::File(_) => trim_space(&bytes).to_vec(),
        })
    }

    /// Where the value comes from, for messages: the file's path, or `inline`.
    pub fn origin(&self) -> String {
        match self {
            Self::Inline(_) => "inline".into(),
            Self::File(path) => path.display().to_string(),
        }
    }
}

/// How a job authenticates (one kind; a job that configures several has a problem noted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeCredentials {
    /// No credentials.
    None,
    /// `basic_auth`: `username` or `username_file`, and `password` or `password_file`.
    Basic {
        /// The user name (empty inline when not given).
        username: Material,
        /// The password; `None` when neither field is given (an empty password is sent).
        password: Option<Material>,
    },
    /// `authorization` (or the deprecated `bearer_token[_file]`): `<type> <credentials>`.
    Authorization {
        /// The scheme, `Bearer` unless written otherwise (trimmed, as Prometheus does).
        kind: String,
        /// The credentials; `None` when neither field is given.
        credentials: Option<Material>,
    },
    /// `oauth2`: a token fetched at run time, which no static check can know.
    OAuth2,
}

/// A job's `tls_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapeTls {
    /// `ca` or `ca_file`: the roots the served certificate must chain to (the system roots
    /// when absent).
    pub ca: Option<Material>,
    /// `cert` or `cert_file`: the client certificate.
    pub cert: Option<Material>,
    /// `key` or `key_file`: its key.
    pub key: Option<Material>,
    /// `server_name`: the name the served certificate must be valid for (else the target's
    /// host).
    pub server_name: Option<String>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
}

impl ScrapeTls {
    /// The CA certificates, as Prometheus loads them; `None` when no CA is configured.
    pub fn ca_certificates(&self) -> Option<Result<Vec<CertificateDer<'static>>, ConfigError>> {
        let ca = self.ca.as_ref()?;
        Some(ca.bytes().and_then(|pem| {
            let certs = append_certs_from_pem(&pem);
            if certs.is_empty() {
                Err(ConfigError::new(format!(
                    "unable to use specified CA cert {}",
                    ca.origin()
                )))
            } else {
                Ok(certs)
            }
        }))
    }

    /// The client certificate chain and key, checked to belong together as Go's
    /// `tls.X509KeyPair` does; `None` when neither is configured. Only one of them
    /// configured is among the job's problems and gives `None` here.
    pub fn client_certificate(&self) -> Option<Result<ServerCertificate, ConfigError>> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return None;
        };
        let loaded = cert.bytes().and_then(|cert_pem| {
            let key_pem = key.bytes()?;
            x509_key_pair(&cert_pem, &key_pem).map_err(ConfigError::new)
        });
        Some(loaded.map_err(|e| {
            ConfigError::new(format!(
                "unable to use specified client cert ({}) & key ({}): {e}",
                cert.origin(),
                key.origin()
            ))
        }))
    }
}

/// One `scrape_configs` entry, with Prometheus's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeJob {
    /// `job_name`.
    pub job_name: String,
    /// `scheme`, `http` by default.
    pub scheme: String,
    /// `metrics_path`, `/metrics` by default.
    pub metrics_path: String,
    /// The credentials the job sends.
    pub credentials: ScrapeCredentials,
    /// `tls_config`.
    pub tls: ScrapeTls,
    /// Every `static_configs[].targets` entry, in file order.
    pub targets: Vec<String>,
    /// What Prometheus refuses in this job's HTTP client settings, in its words (e.g. `at
    /// most one of basic_auth password & password_file must be configured`).
    pub problems: Vec<String>,
}

/// Reads the scrape jobs of a `prometheus.yml`. Keys this check does not need are ignored.
///
/// The error is one line naming the file, e.g. `prometheus.yml: scrape_configs[1]: job_name
/// is empty`, or Go's text for a file that cannot be read (`open prometheus.yml: no such
/// file or directory`).
pub fn load_scrape_jobs(path: &Path) -> Result<Vec<ScrapeJob>, ConfigError> {
    let shown = path.to_string_lossy().into_owned();
    let fail = |e: &dyn fmt::Display| ConfigError::new(format!("{shown}: {e}"));
    let data = io::read_file(&shown).map_err(ConfigError::new)?;
    let text = std::str::from_utf8(&data).map_err(|e| fail(&format!("not UTF-8 text: {e}")))?;
    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| fail(&e))?;
    doc.apply_merge().map_err(|e| fail(&e))?;
    let configs = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(mut map) => map.remove("scrape_configs").unwrap_or(Value::Null),
        _ => return Err(fail(&"the document must be a mapping")),
    };
    let entries = match configs {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(entries) => entries,
        _ => return Err(fail(&"scrape_configs must be a sequence")),
    };
    let dir = gopath::dir(path);
    let mut jobs: Vec<ScrapeJob> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let raw: RawJob = serde_yaml::from_value(entry)
            .map_err(|e| fail(&format!("scrape_configs[{i}]: {e}")))?;
        let job = job(raw, &dir).map_err(|e| fail(&format!("scrape_configs[{i}]: {e}")))?;
        if jobs.iter().any(|j| j.job_name == job.job_name) {
            // Prometheus's text.
            return Err(fail(&format!(
                "found multiple scrape configs with job name {:?}",
                job.job_name
            )));
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// One job with Prometheus's defaults and paths joined with `dir`.
fn job(raw: RawJob, dir: &Path) -> Result<ScrapeJob, String> {
    let job_name = raw.job_name.clone().unwrap_or_default();
    if job_name.is_empty() {
        return Err("job_name is empty".into());
    }
    let mut problems = Vec::new();
    let credentials = credentials(&raw, dir, &mut problems);
    let tls = tls(raw.tls_config.unwrap_or_default(), dir, &mut problems);
    let targets = raw
        .static_configs
        .into_iter()
        .flatten()
        .flat_map(|s| s.targets.unwrap_or_default())
        .collect();
    Ok(ScrapeJob {
        job_name,
        scheme: raw
            .scheme
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "http".into()),
        metrics_path: raw
            .metrics_path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/metrics".into()),
        credentials,
        tls,
        targets,
        problems,
    })
}

/// Prometheus's `HTTPClientConfig.Validate`, then the one kind of credentials the job sends.
fn credentials(raw: &RawJob, dir: &Path, problems: &mut Vec<String>) -> ScrapeCredentials {
    let legacy_bearer =
        nonempty(&raw.bearer_token).is_some() || nonempty(&raw.bearer_token_file).is_some();
    if (raw.basic_auth.is_some() || raw.oauth2.is_some()) && legacy_bearer {
        problems.push(
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be \
             configured"
                .into(),
        );
    }
    if let Some(b) = &raw.basic_auth {
        if nonempty(&b.password).is_some() && nonempty(&b.password_file).is_some() {
            problems.push(
                "at most one of basic_auth password & password_file must be configured".into(),
            );
        }
        if nonempty(&b.username).is_some() && nonempty(&b.username_file).is_some() {
            problems.push(
                "at most one of basic_auth username & username_file must be configured".into(),
            );
        }
    }
    if let Some(a) = &raw.authorization {
        if legacy_bearer {
            problems.push(
                "authorization is not compatible with bearer_token & bearer_token_file".into(),
            );
        }
        if nonempty(&a.credentials).is_some() && nonempty(&a.credentials_file).is_some() {
            problems.push(
                "at most one of authorization credentials & credentials_file must be configured"
                    .into(),
            );
        }
        if authorization_kind(a).eq_ignore_ascii_case("basic") {
            problems.push(
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
            );
        }
        if raw.basic_auth.is_some() || raw.oauth2.is_some() {
            problems.push(
                "at most one of basic_auth, oauth2 & authorization must be configured".into(),
            );
        }
    }
    if let Some(b) = &raw.basic_auth {
        return basic(b, dir);
    }
    if let Some(a) = &raw.authorization {
        return ScrapeCredentials::Authorization {
            kind: authorization_kind(a),
            credentials: material(&a.credentials, &a.credentials_file, dir),
        };
    }
    if legacy_bearer {
        return ScrapeCredentials::Authorization {
            kind: "Bearer".into(),
            credentials: material(&raw.bearer_token, &raw.bearer_token_file, dir),
        };
    }
    if raw.oauth2.as_ref().is_some_and(|v| !v.is_null()) {
        return ScrapeCredentials::OAuth2;
    }
    ScrapeCredentials::None
}

fn basic(b: &RawBasicAuth, dir: &Path) -> ScrapeCredentials {
    ScrapeCredentials::Basic {
        username: material(&b.username, &b.username_file, dir)
            .unwrap_or_else(|| Material::Inline(String::new())),
        password: material(&b.password, &b.password_file, dir),
    }
}

/// `type`, trimmed, `Bearer` when empty.
fn authorization_kind(a: &RawAuthorization) -> String {
    match a.kind.as_deref().map(str::trim) {
        None | Some("") => "Bearer".into(),
        Some(kind) => kind.to_owned(),
    }
}

/// Prometheus's `TLSConfig.Validate`, and the paths joined with `dir`.
fn tls(raw: RawTlsConfig, dir: &Path, problems: &mut Vec<String>) -> ScrapeTls {
    for (inline, file, name) in [
        (&raw.ca, &raw.ca_file, "ca"),
        (&raw.cert, &raw.cert_file, "cert"),
        (&raw.key, &raw.key_file, "key"),
    ] {
        if nonempty(inline).is_some() && nonempty(file).is_some() {
            problems.push(format!(
                "at most one of {name} and {name}_file must be configured"
            ));
        }
    }
    let ca = material(&raw.ca, &raw.ca_file, dir);
    let cert = material(&raw.cert, &raw.cert_file, dir);
    let key = material(&raw.key, &raw.key_file, dir);
    match (&cert, &key) {
        (Some(_), None) => problems.push(
            "exactly one of key or key_file must be configured when a client certificate is \
             configured"
                .into(),
        ),
        (None, Some(_)) => problems.push(
            "exactly one of cert or cert_file must be configured when a client key is configured"
                .into(),
        ),
        _ => {}
    }
    ScrapeTls {
        ca,
        cert,
        key,
        server_name: raw.server_name.filter(|s| !s.is_empty()),
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
    }
}

/// The inline value when given, else the file (joined with `dir`), else `None`.
fn material(inline: &Option<String>, file: &Option<String>, dir: &Path) -> Option<Material> {
    if let Some(value) = nonempty(inline) {
        return Some(Material::Inline(value.to_owned()));
    }
    nonempty(file).map(|f| Material::File(PathBuf::from(gopath::join_dir(dir, f))))
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Go's `bytes.TrimSpace`: Unicode white space for UTF-8 text, ASCII white space otherwise.
fn trim_space(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.trim().as_bytes(),
        Err(_) => bytes.trim_ascii(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<ScrapeJob>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, text).unwrap();
        load_scrape_jobs(&path).map_err(|e| {
            // Keep the messages independent of the temp directory.
            ConfigError::new(
                e.to_string()
                    .replace(&format!("{}/", dir.path().display()), ""),
            )
        })
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let jobs = load(
            "global:\n  scrape_interval: 15s\nrule_files: [a.yml]\nscrape_configs:\n  - job_name: node\n    scrape_interval: 5s\n    relabel_configs: [{action: keep}]\n    static_configs:\n      - targets: ['a:9100', 'b:9100']\n        labels: {env: prod}\n      - targets: ['c:9100']\n",
        )
        .unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.job_name, "node");
        assert_eq!(job.scheme, "http");
        assert_eq!(job.metrics_path, "/metrics");
        assert_eq!(job.credentials, ScrapeCredentials::None);
        assert_eq!(job.tls, ScrapeTls::default());
        assert_eq!(job.targets, ["a:9100", "b:9100", "c:9100"]);
        assert!(job.problems.is_empty());
    }

    #[test]
    fn paths_are_joined_with_the_file_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(
            &path,
            "scrape_configs:\n  - job_name: j\n    basic_auth: {username: u, password_file: secrets/p}\n    tls_config: {ca_file: /etc/ca.pem, cert_file: c.crt, key_file: c.key}\n",
        )
        .unwrap();
        let job = &load_scrape_jobs(&path).unwrap()[0];
        let ScrapeCredentials::Basic { username, password } = &job.credentials else {
            panic!("basic expected: {job:?}");
        };
        assert_eq!(username, &Material::Inline("u".into()));
        assert_eq!(
            password,
            &Some(Material::File(dir.path().join("secrets/p")))
        );
        assert_eq!(job.tls.ca, Some(Material::File("/etc/ca.pem".into())));
        assert_eq!(job.tls.cert, Some(Material::File(dir.path().join("c.crt"))));
    }

    #[test]
    fn secrets_from_files_are_trimmed_like_go() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p");
        std::fs::write(&file, " \tpass word\r\n\n").unwrap();
        assert_eq!(Material::File(file).secret().unwrap(), b"pass word");
        assert_eq!(
            Material::Inline(" x\n".into()).secret().unwrap(),
            b" x\n".to_vec()
        );
        let missing = Material::File(dir.path().join("nope"))
            .secret()
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .ends_with("/nope: no such file or directory"),
            "{missing}"
        );
    }

    #[test]
    fn authorization_forms() {
        let jobs = load(
            "scrape_configs:\n  - job_name: a\n    authorization: {credentials: t}\n  - job_name: b\n    authorization: {type: ' Token ', credentials_file: f}\n  - job_name: c\n    bearer_token: legacy\n  - job_name: d\n    oauth2: {client_id: x, client_secret: y, token_url: 'http://t'}\n",
        )
        .unwrap();
        assert_eq!(
            jobs[0].credentials,
            ScrapeCredentials::Authorization {
                kind: "Bearer".into(),
                credentials: Some(Material::Inline("t".into()))
            }
        );
        let ScrapeCredentials::Authorization { kind, credentials } = &jobs[1].credentials else {
            panic!()
        };
        assert_eq!(kind, "Token");
        assert!(matches!(credentials, Some(Material::File(_))));
        assert_eq!(
            jobs[2].credentials,
            ScrapeCredentials::Authorization {
                kind: "Bearer".into(),
                credentials: Some(Material::Inline("legacy".into()))
            }
        );
        assert_eq!(jobs[3].credentials, ScrapeCredentials::OAuth2);
    }

    #[test]
    fn prometheus_refusals_are_job_problems() {
        let jobs = load(
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n    authorization: {type: basic, credentials: x}\n    tls_config: {cert_file: c}\n",
        )
        .unwrap();
        assert_eq!(
            jobs[0].problems,
            [
                "at most one of basic_auth password & password_file must be configured",
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                "at most one of basic_auth, oauth2 & authorization must be configured",
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ]
        );
    }

    #[test]
    fn merge_keys_apply() {
        let jobs = load(
            "common: &common\n  scheme: https\n  basic_auth: {username: u, password: p}\nscrape_configs:\n  - <<: *common\n    job_name: a\n",
        )
        .unwrap();
        assert_eq!(jobs[0].scheme, "https");
        assert!(matches!(
            jobs[0].credentials,
            ScrapeCredentials::Basic { .. }
        ));
    }

    #[test]
    fn file_errors() {
        assert_eq!(load("").unwrap(), []);
        assert_eq!(load("global: {}\n").unwrap(), []);
        let e = load("scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prometheus.yml: found multiple scrape configs with job name \"a\""
        );
        let e = load("scrape_configs:\n  - scheme: https\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prometheus.yml: scrape_configs[0]: job_name is empty"
        );
        let e = load("scrape_configs:\n  - job_name: a\n    static_configs: {targets: x}\n")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("prometheus.yml: scrape_configs[0]: "),
            "{e}"
        );
        let e = load("scrape_configs: [\n").unwrap_err();
        assert!(e.to_string().starts_with("prometheus.yml: "), "{e}");
        let e = load_scrape_jobs(Path::new("/nonexistent/prometheus.yml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "open /nonexistent/prometheus.yml: no such file or directory"
        );
    }
}
