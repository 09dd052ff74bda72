//! `Authorization: Basic` parsing with the semantics of Go's `Request.BasicAuth()`.
//!
//! The prefix `Basic ` matches case-insensitively with exactly one space; the rest is standard
//! base64 with padding, decoded as Go's `StdEncoding` does (padding required, non-zero trailing
//! bits accepted, CR and LF skipped); the result splits at the first `:`. Bytes are kept as-is.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::alphabet::{INVALID, reverse};

/// Longest `Authorization` value decoded. Longer values are treated as malformed so hostile
/// input costs bounded work; 8 KiB leaves room for any real user name and password.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

const PREFIX: &[u8] = b"Basic ";

/// Standard base64 alphabet reverse table; `INVALID` marks bytes outside it.
const STD_DECODE: [u8; 256] =
    reverse(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

/// Decoded basic credentials. The buffer is wiped on drop; `Debug` shows nothing secret.
pub struct BasicCredentials {
    decoded: Zeroizing<Vec<u8>>,
    colon: usize,
}

impl BasicCredentials {
    /// The user name: the bytes before the first `:` (may be empty).
    pub fn username(&self) -> &[u8] {
        &self.decoded[..self.colon]
    }

    /// The password: everything after the first `:` (may contain `:`).
    pub fn password(&self) -> &[u8] {
        &self.decoded[self.colon + 1..]
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials").finish_non_exhaustive()
    }
}

/// Parses an `Authorization` header value as Go's `Request.BasicAuth()` does.
///
/// `None` when the scheme is not `Basic `, the base64 is invalid, there is no `:`, or the value
/// is longer than [`MAX_AUTHORIZATION_LEN`].
pub fn parse_basic_auth(value: &[u8]) -> Option<BasicCredentials> {
    let mut decoded = Zeroizing::new(Vec::new());
    let len = decode_payload(value, &mut [], &mut 0, &mut decoded)?;
    debug_assert_eq!(len, decoded.len());
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(BasicCredentials { decoded, colon })
}

/// Scratch space for [`parse_with_scratch`]: decodes typical credentials without touching
/// the heap. Wiped on drop (only the bytes the decoder may have written, which keeps the
/// byte-by-byte volatile wipe cheap on the hot path).
pub(crate) struct Scratch {
    inline: [u8; INLINE_LEN],
    /// How much of `inline` may hold secret bytes.
    dirty: usize,
    /// Used only for long values; wiped on drop (see `Drop`).
    heap: Vec<u8>,
}

/// Decoded credentials that fit here stay on the stack.
const INLINE_LEN: usize = 192;

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0u8; INLINE_LEN],
            dirty: 0,
            heap: Vec::new(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.inline[..self.dirty].zeroize();
        if self.heap.capacity() > 0 {
            self.heap.zeroize();
        }
    }
}

/// [`parse_basic_auth`] into caller-owned scratch space: `(username, password)`.
pub(crate) fn parse_with_scratch<'s>(
    value: &[u8],
    scratch: &'s mut Scratch,
) -> Option<(&'s [u8], &'s [u8])> {
    let Scratch {
        inline,
        dirty,
        heap,
    } = scratch;
    let len = decode_payload(value, inline, dirty, heap)?;
    let decoded: &'s [u8] = if heap.is_empty() {
        &inline[..len]
    } else {
        &heap[..]
    };
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((&decoded[..colon], &decoded[colon + 1..]))
}

/// Checks the scheme and decodes the payload into `inline` if it surely fits, else into
/// `heap`. Returns the decoded length.
fn decode_payload(
    value: &[u8],
    inline: &mut [u8],
    dirty: &mut usize,
    heap: &mut Vec<u8>,
) -> Option<usize> {
    if value.len() > MAX_AUTHORIZATION_LEN || value.len() < PREFIX.len() {
        return None;
    }
    let (scheme, payload) = value.split_at(PREFIX.len());
    if !scheme.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    if payload.iter().any(|&b| b == b'\r' || b == b'\n') {
        // Go's decoder skips CR and LF wherever they appear.
        let filtered: Zeroizing<Vec<u8>> = Zeroizing::new(
            payload
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
        );
        return decode_to_heap(&filtered, heap);
    }
    let estimate = payload.len().div_ceil(4) * 3;
    if estimate <= inline.len() {
        // The decoder writes within the estimate, even when it fails part-way.
        *dirty = estimate;
        go_std_decode(payload, inline)
    } else {
        decode_to_heap(payload, heap)
    }
}

fn decode_to_heap(payload: &[u8], heap: &mut Vec<u8>) -> Option<usize> {
    // Sized once, never reallocated (a reallocation would leave an unwiped copy behind).
    heap.clear();
    heap.resize(payload.len().div_ceil(4) * 3, 0);
    let len = go_std_decode(payload, heap)?;
    heap.truncate(len);
    Some(len)
}

/// Go's `base64.StdEncoding.Decode` (not `.Strict()`) on input without CR/LF: whole
/// quanta of four characters; `=` only as `xx==` or `xxx=` at the very end; the unused low
/// bits of the last character are ignored. `out` must hold `len / 4 * 3` bytes.
fn go_std_decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.len() % 4 != 0 {
        return None;
    }
    let mut n = 0;
    let quanta = input.len() / 4;
    for (i, quad) in input.chunks_exact(4).enumerate() {
        let last = i + 1 == quanta;
        let pad = if last {
            match (quad[2], quad[3]) {
                (b'=', b'=') => 2,
                (_, b'=') => 1,
                _ => 0,
            }
        } else {
            0
        };
        let mut bits: u32 = 0;
        for &c in &quad[..4 - pad] {
            let v = STD_DECODE[usize::from(c)];
            if v == INVALID {
                return None;
            }
            bits = (bits << 6) | u32::from(v);
        }
        bits <<= 6 * pad as u32;
        let bytes = bits.to_be_bytes();
        let take = 3 - pad;
        out[n..n + take].copy_from_slice(&bytes[1..1 + take]);
        n += take;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut v = b"Basic ".to_vec();
        v.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(s)
                .as_bytes(),
        );
        v
    }

    /// Parses with both entry points and checks they agree.
    fn parse(v: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let owned = parse_basic_auth(v).map(|c| (c.username().to_vec(), c.password().to_vec()));
        let mut scratch = Scratch::new();
        let scratched = parse_with_scratch(v, &mut scratch).map(|(u, p)| (u.to_vec(), p.to_vec()));
        assert_eq!(owned, scratched);
        owned
    }

    fn pair(u: &str, p: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        Some((u.as_bytes().to_vec(), p.as_bytes().to_vec()))
    }

    #[test]
    fn plain_credentials() {
        assert_eq!(parse(&enc(b"alice:alice123")), pair("alice", "alice123"));
    }

    #[test]
    fn splits_at_first_colon_and_keeps_bytes() {
        assert_eq!(parse(&enc(b"a:b:c")), pair("a", "b:c"));
        assert_eq!(parse(&enc(b":pw")), pair("", "pw"));
        assert_eq!(parse(&enc(b"user:")), pair("user", ""));
        assert_eq!(parse(&enc(b" u : p ")), pair(" u ", " p "));
        let raw = parse(&enc(b"\xff\x00:\xfe")).unwrap();
        assert_eq!(raw, (b"\xff\x00".to_vec(), b"\xfe".to_vec()));
    }

    #[test]
    fn no_colon_is_invalid() {
        assert_eq!(parse(&enc(b"alice")), None);
        assert_eq!(parse(b"Basic "), None);
    }

    #[test]
    fn scheme_is_case_insensitive_with_one_space() {
        let good = enc(b"u:p");
        let payload = &good[6..];
        for scheme in [&b"basic "[..], b"BASIC ", b"bAsIc "] {
            let mut v = scheme.to_vec();
            v.extend_from_slice(payload);
            assert_eq!(parse(&v), pair("u", "p"), "{scheme:?}");
        }
        for scheme in [
            &b"Basic  "[..],
            b"Basic\t",
            b"Basic",
            b"Bearer ",
            b" Basic ",
        ] {
            let mut v = scheme.to_vec();
            v.extend_from_slice(payload);
            assert_eq!(parse(&v), None, "{scheme:?}");
        }
    }

    #[test]
    fn base64_rules_match_go_std_encoding() {
        // "u:p" is dTpw (no padding needed); "u:pw" needs one '='; "u:" needs two.
        assert_eq!(parse(b"Basic dTpwdw=="), pair("u", "pw"));
        assert_eq!(parse(b"Basic dTpwdw"), None, "padding is required");
        assert_eq!(parse(b"Basic dTpwdw="), None, "partial padding");
        assert_eq!(parse(b"Basic dTpwdw==="), None, "extra padding");
        assert_eq!(parse(b"Basic dTpwdw==dTpw"), None, "data after padding");
        assert_eq!(
            parse(b"Basic dTpwdx=="),
            pair("u", "pw"),
            "lax trailing bits"
        );
        assert_eq!(parse(b"Basic dT-w"), None, "URL alphabet is not standard");
        assert_eq!(parse(b"Basic dTp w"), None, "spaces are not skipped");
        assert_eq!(
            parse(b"Basic dTp\r\nw"),
            pair("u", "p"),
            "CR/LF are skipped"
        );
    }

    #[test]
    fn decoder_agrees_with_a_go_configured_base64_engine() {
        use base64::alphabet;
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        const GO_STD: GeneralPurpose = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
        );
        // Exhaustive over short strings from alphabets that hit every rule: all of a mixed
        // set up to one and a bit quanta, then padding placement across two quanta.
        let mut out = [0u8; 8];
        for (chars, lens) in [(&b"AQw/+=x-"[..], 0..=5u32), (&b"Aw="[..], 6..=8u32)] {
            let radix = chars.len();
            for len in lens {
                for mut code in 0..radix.pow(len) {
                    let mut input = Vec::new();
                    for _ in 0..len {
                        input.push(chars[code % radix]);
                        code /= radix;
                    }
                    let ours = go_std_decode(&input, &mut out).map(|n| out[..n].to_vec());
                    let theirs = GO_STD.decode(&input).ok();
                    assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&input));
                }
            }
        }
    }

    #[test]
    fn oversized_values_are_refused() {
        let long = vec![b'a'; MAX_AUTHORIZATION_LEN];
        let mut creds = b"u:".to_vec();
        creds.extend_from_slice(&long);
        assert_eq!(parse(&enc(&creds)), None);
        let fits = vec![b'a'; 4000]; // decoded on the heap
        let mut creds = b"u:".to_vec();
        creds.extend_from_slice(&fits);
        assert!(parse(&enc(&creds)).is_some());
        let fits = vec![b'a'; 180]; // right at the inline limit
        let mut creds = b"u:".to_vec();
        creds.extend_from_slice(&fits);
        assert!(parse(&enc(&creds)).is_some());
    }

    #[test]
    fn debug_hides_credentials() {
        let c = parse_basic_auth(&enc(b"alice:secret")).unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("alice") && !s.contains("secret"));
    }
}
