//! The request-facing authenticator: header → user table → keyed cache → limiter → pool.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use scrapegate_model::User;

use crate::header::{Scratch, parse_with_scratch};
use crate::key::Keyer;
use crate::limiter::FailureLimiter;
use crate::metrics::AuthMetrics;
use crate::pool::{Admission, Core, JobResult, JobSpec, Pool, Slot, wait};
use crate::tiers::{Tiers, Verdict};
use crate::users::{PreparedUsers, UserTable};
use crate::verify::{MAX_KEY_LEN, PreparedPassword};

/// Tuning of the caches, the bcrypt pool and the failure limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Most verified-good credentials kept (default 10,000).
    pub success_capacity: u64,
    /// How long a verified-good credential stays cached (default 1 hour). Changing or removing
    /// a user's hash invalidates its entries at once regardless, since the key covers the hash.
    pub success_ttl: Duration,
    /// Most failed credentials kept, in their own cache (default 1,024).
    pub failure_capacity: u64,
    /// How long a failed credential stays cached (default 30 s).
    pub failure_ttl: Duration,
    /// Threads that run bcrypt (default: available parallelism).
    pub pool_threads: usize,
    /// Distinct bcrypt jobs that may wait for a pool thread; beyond that a miss gets `Busy`
    /// at once (default 32; at most 65,536, as the queue is allocated up front). 0 means a
    /// miss is only accepted when a thread is idle.
    pub queue_capacity: usize,
    /// Failed attempts one source (IPv4 address or IPv6 /64) may make per window before its
    /// uncached attempts get `Limited` (default 20; 0 disables the limiter).
    pub failure_limit: u32,
    /// The failure limiter's window, counted from a source's first failure (default 60 s).
    pub failure_window: Duration,
    /// Most sources the failure limiter tracks at once (default 32,768).
    pub limiter_capacity: u64,
    /// Most bcrypt jobs one source (IPv4 address or IPv6 /64) may have queued or running at
    /// once; its further misses get `Limited` without queueing (default 4).
    pub max_misses_per_source: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            success_capacity: 10_000,
            success_ttl: Duration::from_secs(3600),
            failure_capacity: 1024,
            failure_ttl: Duration::from_secs(30),
            pool_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue_capacity: 32,
            failure_limit: 20,
            failure_window: Duration::from_secs(60),
            limiter_capacity: 32_768,
            max_misses_per_source: 4,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the request through (valid credentials, or no users configured).
    Allow,
    /// 401: missing, malformed or wrong credentials, or an unknown user.
    Deny,
    /// The bcrypt queue is full: try again later (503 with `Retry-After`).
    Busy {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// This source failed too often recently: try again later (429 with `Retry-After`).
    Limited {
        /// Time until the source's failure window ends.
        retry_after: Duration,
    },
}

/// Why a request was denied, for the operator's log only: clients get the same answer,
/// status and timing whichever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No `Authorization: Basic` header, or one that does not decode.
    Missing,
    /// The user is not configured.
    UnknownUser,
    /// A configured user with the wrong password.
    BadPassword,
}

impl DenyReason {
    /// The access log's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::UnknownUser => "unknown_user",
            Self::BadPassword => "bad_password",
        }
    }
}

/// How far [`Authenticator::decide_now`] got.
enum Step {
    Decided(AuthDecision),
    Wait(Slot),
}

/// Go-compatible basic auth with a keyed two-tier cache, coalescing, a bounded bcrypt pool,
/// a cost-matched decoy and a per-source failure limiter. Share it in an `Arc`.
pub struct Authenticator {
    /// Swapped whole on reload; read without a lock on every request.
    users: ArcSwap<UserTable>,
    keyer: Keyer,
    core: Arc<Core>,
    pool: Pool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: no user names, hashes or keys.
        f.debug_struct("Authenticator")
            .field("has_users", &self.has_users())
            .field("pool_threads", &self.pool.threads())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds an authenticator for `users` (parsed by the config crate). Starts the pool
    /// threads.
    pub fn new(users: &[User], settings: AuthSettings) -> Self {
        let table = UserTable::build(users, None);
        let limiter = FailureLimiter::new(
            settings.failure_limit,
            settings.failure_window,
            settings.limiter_capacity,
        );
        let tiers = Tiers::new(
            settings.success_capacity,
            settings.success_ttl,
            settings.failure_capacity,
            settings.failure_ttl,
        );
        let core = Arc::new(Core::new(tiers, limiter, settings.max_misses_per_source));
        let pool = Pool::start(
            Arc::clone(&core),
            settings.pool_threads,
            settings.queue_capacity,
        );
        Self {
            users: ArcSwap::from_pointee(table),
            keyer: Keyer::random(),
            core,
            pool,
        }
    }

    /// Reload, first half: the user table for `users`, built beside the one in force (whose
    /// decoy it keeps when the highest cost is unchanged). Nothing changes until
    /// [`Authenticator::install_users`].
    pub fn prepare_users(&self, users: &[User]) -> PreparedUsers {
        PreparedUsers(UserTable::build(users, Some(&self.table())))
    }

    /// Reload, second half: puts a prepared table in force. The cache survives: entries of
    /// users whose hash did not change stay valid, because the key covers the hash.
    pub fn install_users(&self, prepared: PreparedUsers) {
        self.users.store(Arc::new(prepared.0));
    }

    /// If `peer` failed too often recently (any kind of credential), how long until its
    /// window ends. For checks outside basic auth (bearer tokens) that share the limiter.
    pub fn limited(&self, peer: IpAddr) -> Option<Duration> {
        let retry_after = self.core.limiter.limited(peer)?;
        self.core.metrics.count_limited();
        Some(retry_after)
    }

    /// Counts a failed attempt by `peer` made with another kind of credential (a wrong bearer
    /// token), so every kind shares the per-source limiter.
    pub fn record_failure(&self, peer: IpAddr) {
        self.core.limiter.record_failure(peer);
    }

    /// Why a request that [`Authenticator::check`] denied was denied, and the user name it
    /// claimed (a header lookup, no bcrypt). For the operator's log only.
    pub fn why_denied(&self, authorization: Option<&[u8]>) -> (DenyReason, Option<String>) {
        let Some(credentials) = authorization.and_then(crate::header::parse_basic_auth) else {
            return (DenyReason::Missing, None);
        };
        let user = credentials.username();
        let reason = match self.users.load().lookup(user) {
            Some((_, true)) => DenyReason::BadPassword,
            _ => DenyReason::UnknownUser,
        };
        (reason, Some(String::from_utf8_lossy(user).into_owned()))
    }

    /// Whether any user is configured (without users every request is allowed, as in Go).
    pub fn has_users(&self) -> bool {
        !self.users.load().is_empty()
    }

    /// Counters, the queue gauge and the bcrypt duration histogram.
    pub fn metrics(&self) -> &AuthMetrics {
        &self.core.metrics
    }

    /// Approximate cached entries `(successes, failures)`.
    pub fn cache_entries(&self) -> (u64, u64) {
        self.core.tiers.entry_counts()
    }

    /// Decides one request. `authorization`: the raw first Authorization header value, if
    /// any. `peer`: the client's IP.
    ///
    /// Cache hits return without waiting. A miss waits for its (possibly shared) bcrypt job;
    /// the future is cancel-safe: dropping it leaves the job running and its verdict cached.
    pub async fn check(&self, authorization: Option<&[u8]>, peer: IpAddr) -> AuthDecision {
        let result = match self.decide_now(authorization, peer) {
            Step::Decided(decision) => return decision,
            Step::Wait(slot) => wait(slot).await,
        };
        self.conclude(result)
    }

    /// Everything up to the point where a miss has to wait for its bcrypt job; synchronous, so
    /// the header scratch space and table guard never live in the future's state.
    fn decide_now(&self, authorization: Option<&[u8]>, peer: IpAddr) -> Step {
        let metrics = &self.core.metrics;
        let table = self.users.load();
        if table.is_empty() {
            return Step::Decided(AuthDecision::Allow);
        }
        let mut scratch = Scratch::new();
        let Some((user, password)) =
            authorization.and_then(|value| parse_with_scratch(value, &mut scratch))
        else {
            metrics.count_denied();
            return Step::Decided(AuthDecision::Deny);
        };
        let Some((stored, known)) = table.lookup(user) else {
            // Unreachable (a non-empty table has a decoy), but never fail open.
            metrics.count_denied();
            return Step::Decided(AuthDecision::Deny);
        };
        // bcrypt never reads past 72 bytes, so neither does the key: suffix variants of one
        // password share an entry instead of each costing a bcrypt and a cache slot.
        let significant = &password[..password.len().min(MAX_KEY_LEN)];
        let key = self.keyer.key(user, &stored.fingerprint, significant);
        if self.core.tiers.is_success(&key) {
            metrics.count_hit();
            metrics.count_allowed();
            return Step::Decided(AuthDecision::Allow);
        }
        let spec = JobSpec {
            hash: stored.hash.clone(),
            password: PreparedPassword::new(password),
            known,
            peer,
        };
        // Misses must not hold the table: a reload waiting for it would stall cache hits.
        drop(table);
        if let Some(retry_after) = self.core.limiter.limited(peer) {
            metrics.count_limited();
            return Step::Decided(AuthDecision::Limited { retry_after });
        }
        if self.core.tiers.is_failure(&key) {
            metrics.count_failure_hit();
            return Step::Decided(self.fail(peer));
        }
        metrics.count_miss();
        match self.pool.admit(key, peer, || spec) {
            // A verdict that landed after our lookup: a failure is this request's own guess.
            Admission::Cached(Verdict::Mismatch) => Step::Decided(self.fail(peer)),
            Admission::Cached(Verdict::Match) => {
                metrics.count_allowed();
                Step::Decided(AuthDecision::Allow)
            }
            Admission::Pending(slot) => Step::Wait(slot),
            Admission::Busy => Step::Decided(AuthDecision::Busy {
                retry_after: self.busy_retry_after(),
            }),
            Admission::SourceBusy => {
                metrics.count_limited();
                Step::Decided(AuthDecision::Limited {
                    retry_after: Duration::from_secs(1),
                })
            }
        }
    }

    /// The answer of a request that waited for its job. The job charged a mismatch to the
    /// source that started it (even if nobody waited), so it is not charged again here.
    fn conclude(&self, result: JobResult) -> AuthDecision {
        match result {
            JobResult::Done(Verdict::Match) => {
                self.core.metrics.count_allowed();
                AuthDecision::Allow
            }
            JobResult::Done(Verdict::Mismatch) => {
                self.core.metrics.count_denied();
                AuthDecision::Deny
            }
            JobResult::Abandoned => AuthDecision::Busy {
                retry_after: self.busy_retry_after(),
            },
        }
    }

    fn fail(&self, peer: IpAddr) -> AuthDecision {
        self.core.limiter.record_failure(peer);
        self.core.metrics.count_denied();
        AuthDecision::Deny
    }

    fn table(&self) -> Arc<UserTable> {
        self.users.load_full()
    }

    /// A full queue drains in about (queue / threads + 1) bcrypt runs; at least one second,
    /// since `Retry-After` counts whole seconds.
    fn busy_retry_after(&self) -> Duration {
        let mean = self
            .core
            .metrics
            .mean_bcrypt_duration()
            .unwrap_or(Duration::from_millis(50));
        let threads = self.pool.threads().max(1) as u64;
        let rounds = self.core.metrics.queue_depth() / threads + 1;
        let estimate = mean.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX));
        estimate
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn authenticator_is_send_and_sync() {
        assert_send_sync::<Authenticator>();
    }

    #[test]
    fn check_future_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let a = Authenticator::new(&[], AuthSettings::default());
        let fut = a.check(None, IpAddr::from([127, 0, 0, 1]));
        is_send(&fut);
    }

    #[test]
    fn debug_prints_no_secrets() {
        let carol = User {
            name: "carol".into(),
            hash: crate::GoBcryptHash::parse(
                "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu",
            )
            .unwrap(),
        };
        let a = Authenticator::new(&[carol], AuthSettings::default());
        let s = format!("{a:?}");
        assert!(!s.contains("carol") && !s.contains("qRTB"), "{s}");
    }
}
