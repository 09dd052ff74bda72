//! The `scrapegate.yml` file as written: private serde structs with unknown keys refused
//! everywhere, read with serde_yaml (YAML 1.2). Nothing here checks values; that is
//! [`super::tokens`], [`super::routes`], [`super::transport`] and [`super::crl`].

use serde::{Deserialize, Deserializer};

/// The whole file. `bearer_tokens: ~` and `routes: ~` are the same as leaving them out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub bearer_tokens: Option<Vec<RawToken>>,
    #[serde(default)]
    pub routes: Option<Vec<RawRoute>>,
    /// Additions to web.yml's `tls_server_config` (web.yml itself never gains a key).
    #[serde(default)]
    pub tls: Option<RawPolicyTls>,
}

/// The `tls` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicyTls {
    #[serde(default)]
    pub client_crl_files: Option<Vec<String>>,
}

/// One `bearer_tokens` entry: a name and exactly one of `sha256` / `token_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    pub name: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub token_file: Option<String>,
}

/// One `routes` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: String,
    pub upstream: String,
    /// Outer `None`: absent; `Some(None)`: written with no value (`allow:`), an error.
    #[serde(default, deserialize_with = "present")]
    pub allow: Option<Option<RawAllow>>,
    #[serde(default)]
    pub anonymous: Option<Vec<String>>,
    /// Outer `None`: absent; `Some(None)`: written with no value, the same as absent.
    #[serde(default)]
    pub upstream_tls: Option<RawUpstreamTls>,
    #[serde(default)]
    pub unix_socket: Option<String>,
    /// Share one upstream request among concurrent identical scrapes; absent: off.
    #[serde(default)]
    pub coalesce: bool,
}

/// A route's `upstream_tls`: the keys of Prometheus's `tls_config` that apply.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstreamTls {
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: Option<bool>,
    #[serde(default)]
    pub min_version: Option<String>,
}

/// A route's `allow`. Each list: outer `None` when absent, `Some(None)` when written with no
/// value (`users:`), which is refused like `users: []`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAllow {
    #[serde(default, deserialize_with = "present")]
    pub users: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub tokens: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub client_sans: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub methods: Option<Option<Vec<String>>>,
}

/// Tells a key written with a null value apart from an absent key (which `default` covers).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The kind of a YAML value, for the "not a mapping" error.
pub(super) fn kind(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a sequence",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}
