//! scrapegate-auth: Go-compatible HTTP basic auth over bcrypt.
//!
//! Owns Basic header parsing with Go's semantics, Go-compatible bcrypt hash parsing and
//! verification, the keyed verification cache, coalescing, the bounded bcrypt pool, the
//! cost-matched decoy and the failure limiter. It does no I/O other than the bcrypt pool.

pub mod go_hash;
