//! scrapegate-auth: Go-compatible HTTP basic auth over bcrypt.
//!
//! This crate owns everything between an `Authorization` header and an allow/deny decision:
//!
//! * [`header`]: Basic header parsing with Go's `Request.BasicAuth()` semantics.
//! * [`go_hash`] (from `scrapegate-model`): bcrypt hash strings parsed as Go parses them;
//!   the config crate parses them at load, and users arrive here already parsed.
//! * [`bearer`]: bearer tokens of `scrapegate.yml`, SHA-256 digests compared in constant time.
//! * [`verify`]: Go-compatible bcrypt comparison on the `bcrypt` crate's raw primitive;
//!   [`hashing`]: making `$2y$` hashes.
//! * [`Authenticator`]: the decision flow of exporter-toolkit (spec §6.2), improved as the
//!   design says: a verification cache keyed by HMAC-SHA256 under a per-process random key
//!   (no plaintext kept), separate success and failure tiers, coalesced misses running
//!   detached on a bounded pool of bcrypt threads with a bounded queue (`Busy` when full), a
//!   decoy for unknown users at the highest configured cost, and a per-source failure limiter.
//!
//! Beyond the design's deliberate differences (keyed tiered cache, parallel bounded pool,
//! cost-matched decoy), two small ones: `Authorization` values over
//! [`MAX_AUTHORIZATION_LEN`] (8 KiB) are treated as malformed, and a stored salt containing
//! CR or LF never authenticates (Go would decode a shorter salt; only a crafted hash could
//! notice). Pool threads run at the lowest scheduling priority (Linux `SCHED_IDLE`, else
//! nice 19), so a flood of misses only gets CPU that request handling leaves idle.
//!
//! It does no I/O other than running bcrypt on its own threads, and depends on no other
//! scrapegate crate than the model. Nothing here logs or prints passwords, hashes, digests or keys.

#![warn(missing_docs)]

mod alphabet;
mod authenticator;
pub mod bearer;
pub mod hashing;
pub mod header;
mod key;
mod limiter;
pub mod metrics;
mod pool;
mod tiers;
mod users;
pub mod verify;

/// bcrypt hash parsing lives in the model crate (the config crate parses, this crate verifies).
pub use scrapegate_model::bcrypt as go_hash;

pub use authenticator::{AuthDecision, AuthSettings, Authenticator, DenyReason};
pub use bearer::{BearerTokens, parse_bearer};
pub use go_hash::{GoBcryptError, GoBcryptHash};
pub use hashing::{HashPasswordError, hash_password};
pub use header::{BasicCredentials, MAX_AUTHORIZATION_LEN, parse_basic_auth};
pub use metrics::{AuthMetrics, BCRYPT_DURATION_BUCKETS, DurationHistogram};
pub use users::PreparedUsers;
pub use verify::go_compare;
