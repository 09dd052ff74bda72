//! `Authorization: Basic` parsing (`scrapegate_auth::parse_basic_auth`) against an independent
//! model of Go's `Request.BasicAuth()`: the prefix `Basic ` case-insensitively, then
//! `base64.StdEncoding.DecodeString` (CR/LF skipped, canonical padding, lax trailing bits),
//! then a split at the first `:`. Besides "no panic", the parser must agree with the model on
//! every input within `MAX_AUTHORIZATION_LEN`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrapegate_auth::{MAX_AUTHORIZATION_LEN, parse_basic_auth};

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Go's `base64.StdEncoding.DecodeString`, written out quantum by quantum.
fn go_std_decode(input: &[u8]) -> Option<Vec<u8>> {
    let s: Vec<u8> = input
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    if s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    let quanta = s.len() / 4;
    for (i, q) in s.chunks(4).enumerate() {
        let last = i + 1 == quanta;
        let pad = q.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let data = &q[..4 - pad];
        let mut v = 0u32;
        for &c in data {
            v = (v << 6) | sextet(c)?;
        }
        v <<= 6 * pad as u32;
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let got = parse_basic_auth(data).map(|c| (c.username().to_vec(), c.password().to_vec()));
    if data.len() > MAX_AUTHORIZATION_LEN {
        assert!(got.is_none(), "values over the limit are refused");
        return;
    }
    let want = (|| {
        if data.len() < 6 || !data[..6].eq_ignore_ascii_case(b"Basic ") {
            return None;
        }
        let decoded = go_std_decode(&data[6..])?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
    })();
    assert_eq!(got, want, "disagrees with Go's BasicAuth model");
    if let Some((user, _)) = &got {
        assert!(!user.contains(&b':'));
    }
});
