//! `Authorization: Basic` parsing with the semantics of Go's `Request.BasicAuth()`.
//!
//! The prefix `Basic ` matches case-insensitively with exactly one space; the rest is standard
//! base64 with padding, decoded as Go's `StdEncoding` does (padding required, non-zero trailing
//! bits accepted, CR and LF skipped); the result splits at the first `:`. Bytes are kept as-is.

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::{Zeroize, Zeroizing};

/// Longest `Authorization` value decoded. Longer values are treated as malformed so hostile
/// input costs bounded work; 8 KiB leaves room for any real user name and password.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

const PREFIX: &[u8] = b"Basic ";

/// Go's `base64.StdEncoding` (not `.Strict()`): canonical padding, lax trailing bits.
const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

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
    heap: Zeroizing<Vec<u8>>,
}

/// Decoded credentials that fit here stay on the stack.
const INLINE_LEN: usize = 192;

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0u8; INLINE_LEN],
            dirty: 0,
            heap: Zeroizing::new(Vec::new()),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.inline[..self.dirty].zeroize();
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
    heap: &mut Zeroizing<Vec<u8>>,
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
        GO_STD_ENCODING.decode_slice(payload, inline).ok()
    } else {
        decode_to_heap(payload, heap)
    }
}

fn decode_to_heap(payload: &[u8], heap: &mut Zeroizing<Vec<u8>>) -> Option<usize> {
    // Reserve the exact estimate so the buffer never reallocates (which would leave an
    // unwiped copy behind).
    heap.clear();
    heap.reserve_exact(payload.len().div_ceil(4) * 3);
    GO_STD_ENCODING.decode_vec(payload, heap).ok()?;
    Some(heap.len())
}

#[cfg(test)]
mod tests {
    use super::*;

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
