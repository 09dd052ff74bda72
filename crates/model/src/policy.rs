//! A validated `scrapegate.yml`: what web.yml cannot say. Bearer tokens (as SHA-256 digests;
//! the token itself is never kept), routes with their upstream, per-route `allow` rules and
//! anonymous paths. Checked against the web.yml it is paired with before it is used (a rule
//! naming a user web.yml lacks refuses the pair).

use std::path::PathBuf;

use http::Method;

use crate::tls::ClientCrl;
use crate::upstream::{UpstreamTransport, UpstreamUrl};

/// A configured bearer token: its name (used in rules, logs and metrics) and the SHA-256 of
/// the token.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// The identity the token stands for.
    pub name: String,
    /// SHA-256 of the token bytes.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest stays out of logs: a digest of a short token can be brute-forced.
        f.debug_struct("BearerToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Who may use a route. Each list is `None` when absent; a request is admitted when its
/// identity matches any entry of any present list, or by any authenticated identity when no
/// list is present. `methods`, when present, restricts the methods (405 beyond them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    /// web.yml `basic_auth_users` names.
    pub users: Option<Vec<String>>,
    /// `bearer_tokens` names.
    pub tokens: Option<Vec<String>>,
    /// SANs of a verified client certificate.
    pub client_sans: Option<Vec<String>>,
    /// Allowed methods (upper case, as HTTP writes them).
    pub methods: Option<Vec<Method>>,
}

/// Who a request is, as far as `allow` rules care.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// The web.yml user it authenticated as.
    pub user: Option<&'a str>,
    /// The name of the bearer token it presented.
    pub token: Option<&'a str>,
    /// The SANs of its verified client certificate.
    pub client_sans: &'a [String],
}

impl Allow {
    /// True when some identity list is present (otherwise any authenticated identity passes).
    pub fn restricts_identity(&self) -> bool {
        self.users.is_some() || self.tokens.is_some() || self.client_sans.is_some()
    }

    /// True when `method` is allowed (no `methods` list allows every method).
    pub fn admits_method(&self, method: &Method) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method))
    }

    /// True when `who` matches an entry of a present identity list, or no list is present.
    pub fn admits(&self, who: Identity<'_>) -> bool {
        if !self.restricts_identity() {
            return true;
        }
        let listed = |list: &Option<Vec<String>>, name: Option<&str>| match (list, name) {
            (Some(list), Some(name)) => list.iter().any(|entry| entry == name),
            _ => false,
        };
        let san_listed = self
            .client_sans
            .as_ref()
            .is_some_and(|list| who.client_sans.iter().any(|san| list.contains(san)));
        listed(&self.users, who.user) || listed(&self.tokens, who.token) || san_listed
    }
}

/// One route of `scrapegate.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// The path prefix (starts with `/`); the longest matching prefix wins.
    pub prefix: String,
    /// The upstream (`http://host:port[/path]`, parsed with [`UpstreamUrl::parse`]); a path
    /// in it replaces the prefix.
    pub upstream: UpstreamUrl,
    /// TLS toward the upstream (`https://`, `upstream_tls`) and `unix_socket`.
    pub transport: UpstreamTransport,
    /// `None`: anyone web.yml authenticates (today's behaviour).
    pub allow: Option<Allow>,
    /// Exact, normalised request paths served without credentials.
    pub anonymous: Vec<String>,
    /// `coalesce: true`: concurrent GET/HEAD scrapes of the same path share one upstream
    /// request while it is in flight (HA Prometheus replicas). Off by default.
    pub coalesce: bool,
}

/// A validated `scrapegate.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The file as given.
    pub path: PathBuf,
    /// Bearer tokens in file order.
    pub tokens: Vec<BearerToken>,
    /// Routes in file order.
    pub routes: Vec<RouteRule>,
    /// `tls.client_crl_files`, parsed (their signatures are checked when paired with web.yml,
    /// which names the client CA).
    pub client_crls: Vec<ClientCrl>,
    /// Every file the policy depends on (scrapegate.yml first, then token files, route TLS
    /// files and CRLs), for the watcher.
    pub files: Vec<PathBuf>,
}
