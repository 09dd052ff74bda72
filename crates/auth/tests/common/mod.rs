//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use scrapegate_auth::AuthSettings;

/// An `Authorization: Basic` header value for `user:password`.
pub fn basic(user: &str, password: &[u8]) -> Vec<u8> {
    let mut raw = user.as_bytes().to_vec();
    raw.push(b':');
    raw.extend_from_slice(password);
    format!("Basic {}", STANDARD.encode(raw)).into_bytes()
}

/// A cheap bcrypt hash (`$2y$`, the prefix htpasswd users paste).
pub fn hash(password: &[u8], cost: u32) -> String {
    bcrypt::hash_with_result(password, cost)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Settings for tests: a small pool, the limiter off unless a test turns it on.
pub fn settings(threads: usize, queue: usize) -> AuthSettings {
    AuthSettings {
        pool_threads: threads,
        queue_capacity: queue,
        failure_limit: 0,
        ..AuthSettings::default()
    }
}

/// Polls `cond` until it holds or `limit` passes; panics with `what` on timeout.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Async [`wait_until`]: yields to the runtime between polls.
pub async fn wait_until_async(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
