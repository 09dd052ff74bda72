//! A validated web.yml: users with parsed hashes, response headers ready to send, the rate
//! limit, and the TLS settings. Nothing here reads a file.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::bcrypt::GoBcryptHash;
use crate::tls::TlsSettings;

/// One configured user: the name and the parsed bcrypt hash (Go's `Cost()` accepted it).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The user name as written.
    pub name: String,
    /// The parsed hash.
    pub hash: GoBcryptHash,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `rate_limit`: one token per `interval`, bucket of `burst` (spec §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Go `time.Duration` in nanoseconds: 0 is off, negative is unlimited.
    pub interval_nanos: i64,
    /// Capacity; ≤ 0 with a positive interval rejects every request.
    pub burst: i64,
}

impl RateLimit {
    /// True when a limiter has to run at all (`interval != 0`).
    pub fn is_enabled(&self) -> bool {
        self.interval_nanos != 0
    }

    /// The positive interval as a `Duration`, if there is one.
    pub fn interval(&self) -> Option<Duration> {
        u64::try_from(self.interval_nanos)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_nanos)
    }
}

/// A web.yml that passed every check `web.Validate` does, with its files loaded and parsed.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    /// The web.yml path as given.
    pub path: PathBuf,
    /// `None` when TLS is not enabled (plain HTTP).
    pub tls: Option<TlsSettings>,
    /// `http_server_config.http2` (after YAML defaults/zeroing). Only meaningful with TLS.
    pub http2: bool,
    /// The configured response headers, validated, in file order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Users in file order; empty means no basic auth.
    pub users: Vec<User>,
    /// The `rate_limit` section.
    pub rate_limit: RateLimit,
    /// Every file this config depends on (web.yml first), for the watcher.
    pub files: Vec<PathBuf>,
}

/// One generation's configuration files, validated together: web.yml (the toolkit's file)
/// and the optional scrapegate.yml, whose rules were checked against this web.yml.
#[derive(Debug, Clone, Default)]
pub struct ConfigSet {
    /// `None`: no `--web.config.file` (plain HTTP, no users).
    pub web: Option<ValidatedConfig>,
    /// `None`: no `--config.file`.
    pub policy: Option<crate::policy::Policy>,
}

impl ConfigSet {
    /// Every file of the generation (web.yml's, then scrapegate.yml's), for the watcher.
    pub fn files(&self) -> Vec<PathBuf> {
        let web = self.web.iter().flat_map(|w| w.files.iter());
        let policy = self.policy.iter().flat_map(|p| p.files.iter());
        web.chain(policy).cloned().collect()
    }
}
