//! Users and credentials: bcrypt hashes cheap enough for tests, parsed users as the config
//! crate produces them, and `Authorization: Basic` header values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use scrapegate_model::{GoBcryptHash, User};

/// A cost-4 (the lowest Go accepts) `$2y$` bcrypt hash of `password`: the prefix htpasswd
/// users paste, at a cost tests never wait for.
pub fn hash(password: impl AsRef<[u8]>) -> String {
    hash_cost(password, 4)
}

/// A `$2y$` bcrypt hash of `password` at `cost`.
pub fn hash_cost(password: impl AsRef<[u8]>, cost: u32) -> String {
    bcrypt::hash_with_result(password.as_ref(), cost)
        .expect("bcrypt hash")
        .format_for_version(bcrypt::Version::TwoY)
}

/// Users with parsed hashes, in the given order, as a validated web.yml holds them. Panics on
/// a hash Go would refuse (tests of refused hashes go through the config crate).
pub fn users(list: &[(&str, &str)]) -> Vec<scrapegate_model::User> {
    list.iter()
        .map(|(name, hash)| User {
            name: (*name).to_owned(),
            hash: GoBcryptHash::parse(hash)
                .unwrap_or_else(|e| panic!("user {name}: hash refused: {e}")),
        })
        .collect()
}

/// The `Authorization` value `Basic base64(user:password)`. The password is bytes, so tests
/// can send what no client would (invalid UTF-8, colons, 72+ bytes).
pub fn basic(user: &str, password: impl AsRef<[u8]>) -> String {
    let mut raw = user.as_bytes().to_vec();
    raw.push(b':');
    raw.extend_from_slice(password.as_ref());
    format!("Basic {}", STANDARD.encode(raw))
}
