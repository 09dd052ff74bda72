//! The gate's view of basic auth: a thin adapter over `scrapegate_auth::Authenticator`.

use std::net::IpAddr;
use std::time::Duration;

use scrapegate_config::User;

/// The gate's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// bcrypt pool saturated: 503 with `Retry-After`.
    Busy(Duration),
    /// Too many failures from this client: 429 with `Retry-After`.
    Limited(Duration),
}

/// Basic auth for the gateway.
#[derive(Debug)]
pub struct Authn {
    has_users: std::sync::atomic::AtomicBool,
}

impl Authn {
    /// Builds the authenticator for `users`.
    pub fn new(users: &[User]) -> Result<Self, String> {
        if !users.is_empty() {
            return Err("basic_auth_users: the auth crate is not integrated yet".into());
        }
        Ok(Self {
            has_users: false.into(),
        })
    }

    /// Replaces the users, keeping the verification cache.
    pub fn replace_users(&self, users: &[User]) -> Result<(), String> {
        if !users.is_empty() {
            return Err("basic_auth_users: the auth crate is not integrated yet".into());
        }
        Ok(())
    }

    /// True when requests need credentials.
    pub fn has_users(&self) -> bool {
        self.has_users.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Decides one request.
    pub async fn check(&self, _authorization: Option<&[u8]>, _peer: IpAddr) -> Decision {
        Decision::Allow
    }
}
