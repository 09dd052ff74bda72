//! Cache keys: HMAC-SHA256 under a random per-process key over an unambiguous encoding of
//! (user name, stored-or-decoy hash, password).
//!
//! No plaintext is kept, a changed hash gives new keys (so stale results invalidate
//! themselves), and length prefixes make every field boundary explicit: the concatenation
//! attacks of CVE-2022-46146 and Traefik's GHSA-6765-c87h-8mrf cannot produce equal keys.
//!
//! The hash enters as a 16-byte fingerprint computed once at load time rather than its 57
//! bytes, which keeps typical credentials within one SHA-256 block: the HMAC is most of the
//! cost of a cache hit. Known users and the decoy are fingerprinted alike, so the work per
//! request does not depend on whether the user exists.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::go_hash::GoBcryptHash;

/// Versions the encoding (the HMAC key is used for nothing else, so a short tag suffices).
const DOMAIN: &[u8] = b"sgk1";

/// A verification cache key (an HMAC output). `Debug` does not print it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheKey([u8; 32]);

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The bytes are already a keyed pseudo-random function output: eight are plenty.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(head));
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Hashes [`CacheKey`]s for the maps that hold them: passes the pre-mixed 64 bits through
/// instead of running SipHash again on every lookup.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHashBuilder;

/// See [`KeyHashBuilder`].
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than CacheKey is hashed: FNV-1a keeps it correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// Identifies the parts of a stored hash that decide a comparison (cost, salt, the 31 hash
/// characters): SHA-256 truncated to 128 bits. Version bytes and trailing junk never matter,
/// so equivalent spellings share it. Hashes come from the configuration, not from clients.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HashFingerprint([u8; 16]);

impl HashFingerprint {
    pub(crate) fn of(hash: &GoBcryptHash) -> Self {
        let mut digest = Sha256::new();
        digest.update(hash.cost.to_be_bytes());
        digest.update(hash.encoded_salt);
        digest.update(hash.encoded_hash);
        let full = digest.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        Self(out)
    }
}

/// Derives [`CacheKey`]s. The HMAC is keyed once; each derivation clones the keyed state.
pub(crate) struct Keyer {
    keyed: Hmac<Sha256>,
}

impl Keyer {
    /// A keyer with a fresh random key (never leaves the process).
    pub(crate) fn random() -> Self {
        let mut secret: [u8; 32] = rand::random();
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&secret)
            .expect("HMAC accepts keys of any length");
        secret.zeroize();
        Self { keyed }
    }

    /// The key for `user` presenting `password` against the hash with `fingerprint`.
    pub(crate) fn key(
        &self,
        user: &[u8],
        fingerprint: &HashFingerprint,
        password: &[u8],
    ) -> CacheKey {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        mac.update(&length_prefix(user));
        mac.update(user);
        mac.update(&fingerprint.0);
        mac.update(&length_prefix(password));
        mac.update(password);
        CacheKey(mac.finalize().into_bytes().into())
    }
}

/// A field's length as 4 bytes. Fields are bounded by the header cap (8 KiB), far below
/// 4 GiB, so the prefix is always exact.
fn length_prefix(field: &[u8]) -> [u8; 4] {
    u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(s: &str) -> HashFingerprint {
        HashFingerprint::of(&GoBcryptHash::parse(s).unwrap())
    }

    const H1: &str = "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";
    const H2: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    #[test]
    fn fields_are_unambiguous() {
        let k = Keyer::random();
        let h = hash(H1);
        assert_ne!(k.key(b"ab", &h, b"c"), k.key(b"a", &h, b"bc"));
        assert_ne!(k.key(b"", &h, b"abc"), k.key(b"abc", &h, b""));
        assert_ne!(k.key(b"u", &h, b"p"), k.key(b"u", &hash(H2), b"p"));
        assert_eq!(k.key(b"u", &h, b"p"), k.key(b"u", &h, b"p"));
    }

    #[test]
    fn keys_differ_between_processes() {
        let h = hash(H1);
        assert_ne!(
            Keyer::random().key(b"u", &h, b"p"),
            Keyer::random().key(b"u", &h, b"p")
        );
    }

    #[test]
    fn equivalent_hash_spellings_share_a_key() {
        let k = Keyer::random();
        let trailing = format!("{H1}junk");
        assert_eq!(
            k.key(b"u", &hash(H1), b"p"),
            k.key(b"u", &hash(&trailing), b"p")
        );
    }
}
