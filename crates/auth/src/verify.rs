//! Go-compatible bcrypt comparison (`golang.org/x/crypto/bcrypt.CompareHashAndPassword`).
//!
//! Go decodes the 22 salt characters with bcrypt's alphabet (trailing bits ignored), runs
//! bcrypt on the password followed by a NUL byte (Blowfish's key schedule reads at most 72
//! bytes of it), encodes 23 of the 24 output bytes (31 characters) and compares them in
//! constant time with the first 31 stored hash characters. This module does exactly that on
//! top of the `bcrypt` crate's raw primitive, whose own `verify` is stricter than Go.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::alphabet::{INVALID, reverse};
use crate::go_hash::{ENCODED_HASH_SIZE, ENCODED_SALT_SIZE, GoBcryptHash};

/// bcrypt's base64 alphabet (standard bit order, different characters, no padding).
const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Reverse lookup table for [`ALPHABET`]; `INVALID` marks bytes outside it.
const DECODE: [u8; 256] = reverse(ALPHABET);
/// Blowfish's key schedule reads at most this many key bytes (18 words of 4 bytes).
pub(crate) const MAX_KEY_LEN: usize = 72;
/// Salt length in bytes after decoding.
const SALT_LEN: usize = 16;
/// Output bytes that take part in the encoded hash (Go's `maxCryptedHashSize`).
const CRYPTED_LEN: usize = 23;
/// bcrypt's lowest and highest cost; anything outside cannot come from [`GoBcryptHash::parse`].
const COST_RANGE: std::ops::RangeInclusive<u32> = 4..=31;

/// A password turned into the key bcrypt actually consumes: the password plus a NUL byte,
/// truncated to 72 bytes, held in a buffer that is wiped on drop.
pub(crate) struct PreparedPassword {
    key: Zeroizing<[u8; MAX_KEY_LEN]>,
    len: usize,
}

impl PreparedPassword {
    /// Prepares `password` (any length, empty allowed).
    pub(crate) fn new(password: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; MAX_KEY_LEN]);
        let len = if password.len() >= MAX_KEY_LEN {
            // The NUL terminator falls past the 72 bytes Blowfish reads, as in Go.
            key.copy_from_slice(&password[..MAX_KEY_LEN]);
            MAX_KEY_LEN
        } else {
            // The buffer is zeroed, so the NUL terminator is already in place.
            key[..password.len()].copy_from_slice(password);
            password.len() + 1
        };
        Self { key, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.key[..self.len]
    }
}

/// Returns whether `password` matches `hash` exactly as Go's `CompareHashAndPassword` decides.
///
/// Costs one full bcrypt run at the hash's cost: call it off the async runtime.
pub fn go_compare(hash: &GoBcryptHash, password: &[u8]) -> bool {
    compare_prepared(hash, &PreparedPassword::new(password))
}

/// [`go_compare`] on an already prepared password.
pub(crate) fn compare_prepared(hash: &GoBcryptHash, password: &PreparedPassword) -> bool {
    // Go refuses an invalid salt alphabet only when comparing: no password ever matches.
    let Some(salt) = decode_salt(&hash.encoded_salt) else {
        return false;
    };
    if !COST_RANGE.contains(&hash.cost) {
        return false;
    }
    let mut raw = bcrypt::bcrypt(hash.cost, salt, password.as_bytes());
    let mut encoded = [0u8; ENCODED_HASH_SIZE];
    encode(&raw[..CRYPTED_LEN], &mut encoded);
    raw.zeroize();
    let equal: bool = encoded.ct_eq(&hash.encoded_hash).into();
    encoded.zeroize();
    equal
}

/// Decodes the 22 salt characters into 16 bytes as Go does: 22 characters plus two `=`, the
/// four trailing bits of the last character ignored. `None` if a character is outside the
/// alphabet.
///
/// Go's decoder also skips CR and LF; a salt containing them either fails in Go too or yields
/// a shorter salt that only a crafted hash could match. Such salts are refused here.
fn decode_salt(encoded: &[u8; ENCODED_SALT_SIZE]) -> Option<[u8; SALT_LEN]> {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut out = [0u8; SALT_LEN];
    let mut n = 0;
    for &c in encoded {
        let v = DECODE[usize::from(c)];
        if v == INVALID {
            return None;
        }
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            if n < SALT_LEN {
                out[n] = (bits >> nbits) as u8;
                n += 1;
            }
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

/// Encodes `input` with bcrypt's alphabet, no padding, into `out` (exactly `ceil(len*8/6)`).
fn encode(input: &[u8], out: &mut [u8]) {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut n = 0;
    for &b in input {
        bits = (bits << 8) | u32::from(b);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out[n] = ALPHABET[((bits >> nbits) & 63) as usize];
            n += 1;
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out[n] = ALPHABET[((bits << (6 - nbits)) & 63) as usize];
        n += 1;
    }
    debug_assert_eq!(n, out.len());
}

/// A decoy hash at `cost` for unknown users: random salt and random hash characters.
///
/// Verifying against it costs exactly what a real hash of that cost costs, yet it is not the
/// hash of any password (its 31 characters are random, so no bcrypt output encodes to them
/// except by a 2^-184 chance), and it is made instantly whatever the cost.
pub(crate) fn random_decoy(cost: u32) -> GoBcryptHash {
    let salt: [u8; SALT_LEN] = rand::random();
    let mut encoded_salt = [0u8; ENCODED_SALT_SIZE];
    encode(&salt, &mut encoded_salt);
    let noise: [u8; ENCODED_HASH_SIZE] = rand::random();
    let encoded_hash = noise.map(|b| ALPHABET[usize::from(b & 63)]);
    GoBcryptHash {
        cost,
        encoded_salt,
        encoded_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Go (exporter-toolkit testdata): carol / carol123, cost 10.
    const CAROL: &str = "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";
    /// Go exporter-toolkit's fixed decoy: "fakepassword" at cost 10, made by Go.
    const GO_DECOY: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    fn parse(s: &str) -> GoBcryptHash {
        GoBcryptHash::parse(s).unwrap()
    }

    fn cheap_hash(password: &[u8]) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    #[test]
    fn go_made_hashes_verify() {
        assert!(go_compare(&parse(CAROL), b"carol123"));
        assert!(!go_compare(&parse(CAROL), b"carol124"));
        assert!(go_compare(&parse(GO_DECOY), b"fakepassword"));
    }

    #[test]
    fn agrees_with_the_bcrypt_crate() {
        for len in [0usize, 1, 7, 50, 70, 71, 72, 73, 100] {
            let pw: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let h = cheap_hash(&pw);
            assert!(go_compare(&parse(&h), &pw), "len {len}");
            assert!(bcrypt::verify(&pw, &h).unwrap(), "len {len}");
        }
    }

    #[test]
    fn password_length_72_boundary() {
        let p72 = [b'x'; 72];
        let h72 = parse(&cheap_hash(&p72));
        assert!(go_compare(&h72, &p72));
        let mut p73 = p72.to_vec();
        p73.push(b'y');
        assert!(go_compare(&h72, &p73), "bytes past 72 are ignored");
        assert!(!go_compare(&h72, &p72[..71]), "71 bytes differ from 72");

        let p71 = [b'x'; 71];
        let h71 = parse(&cheap_hash(&p71));
        assert!(go_compare(&h71, &p71));
        assert!(!go_compare(&h71, &p72), "the NUL terminator counts at 71");
    }

    #[test]
    fn empty_password_allowed() {
        let h = parse(&cheap_hash(b""));
        assert!(go_compare(&h, b""));
        assert!(!go_compare(&h, b"x"));
        // Blowfish repeats the key cyclically, so "" + NUL and "\0" + NUL are the same key
        // stream: Go accepts this too.
        assert!(go_compare(&h, b"\0"));
    }

    #[test]
    fn hash_oddities_behave_like_go() {
        let good = cheap_hash(b"pw");
        // Minor letter, major byte and separators do not matter.
        for variant in [
            good.replacen("$2b$", "$2z$", 1),
            good.replacen("$2b$", "$1y$", 1),
            good.replacen("$2b$", "$2$", 1),
            good.replacen("$2b$04$", "$2b#04#", 1),
            format!("{good}trailing junk"),
        ] {
            assert!(go_compare(&parse(&variant), b"pw"), "{variant}");
        }
        // Invalid salt alphabet: accepted by the parser, never authenticates.
        let mut bad_salt = good.clone().into_bytes();
        bad_salt[8] = b'!';
        let bad_salt = String::from_utf8(bad_salt).unwrap();
        assert!(!go_compare(&parse(&bad_salt), b"pw"));
        // A changed 31st hash character fails; a missing one (59 bytes with minor) fails.
        let mut last = good.clone().into_bytes();
        last[59] = if last[59] == b'a' { b'b' } else { b'a' };
        assert!(!go_compare(
            &parse(std::str::from_utf8(&last).unwrap()),
            b"pw"
        ));
        assert!(!go_compare(&parse(&good[..59]), b"pw"));
    }

    #[test]
    fn salt_trailing_bits_ignored() {
        // The last salt character carries 4 ignored bits: '.' (0) and '/' (1) decode alike.
        let good = cheap_hash(b"pw");
        let idx = 7 + 21;
        let c = good.as_bytes()[idx];
        let v = DECODE[usize::from(c)];
        let twin = ALPHABET[usize::from(v ^ 1)];
        let mut other = good.clone().into_bytes();
        other[idx] = twin;
        assert!(go_compare(
            &parse(std::str::from_utf8(&other).unwrap()),
            b"pw"
        ));
    }

    #[test]
    fn decoy_never_matches_and_has_the_cost() {
        let d = random_decoy(4);
        assert_eq!(d.cost, 4);
        assert!(d.encoded_salt.iter().all(|c| ALPHABET.contains(c)));
        assert!(decode_salt(&d.encoded_salt).is_some());
        assert!(!go_compare(&d, b"fakepassword"));
        assert!(!go_compare(&d, b""));
    }

    #[test]
    fn codec_round_trip() {
        let salt: [u8; 16] = core::array::from_fn(|i| (i * 37) as u8);
        let mut enc = [0u8; 22];
        encode(&salt, &mut enc);
        assert_eq!(decode_salt(&enc), Some(salt));
    }
}
