//! The parts of a Prometheus `scrape_config` that decide whether the gateway lets a scrape
//! in, as written. Unknown keys are ignored (a prometheus.yml has many more: relabelling,
//! intervals, service discovery, ...); only the fields read here must have the right type.

use serde::Deserialize;

/// One `scrape_configs` entry.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawJob {
    #[serde(default)]
    pub job_name: Option<String>,
    #[serde(default)]
    pub scheme: Option<String>,
    #[serde(default)]
    pub metrics_path: Option<String>,
    #[serde(default)]
    pub basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    pub authorization: Option<RawAuthorization>,
    /// Deprecated in Prometheus 2 (an `authorization` of type Bearer), still accepted.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// See `bearer_token`.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// Only its presence matters: an OAuth 2 token cannot be known statically.
    #[serde(default)]
    pub oauth2: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tls_config: Option<RawTlsConfig>,
    #[serde(default)]
    pub static_configs: Option<Vec<RawStaticConfig>>,
}

/// `basic_auth`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawBasicAuth {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `authorization`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAuthorization {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// `tls_config`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTlsConfig {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: Option<bool>,
}

/// One `static_configs` entry (its `labels` are ignored).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawStaticConfig {
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}
