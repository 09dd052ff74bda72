//! `GoBcryptHash::parse`, the parser `web.Validate` runs on every `basic_auth_users` hash:
//! never panics, agrees with Go's `newFromHash` length and prefix rules (an independent
//! model below), and its error `Display` (Go's texts) never panics either. Parsed hashes of
//! cost 4 are also run through `go_compare`, whose salt decoding is only reached there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrapegate_auth::go_hash::{ENCODED_HASH_SIZE, ENCODED_SALT_SIZE};
use scrapegate_auth::{GoBcryptError, GoBcryptHash, go_compare};

fuzz_target!(|data: &[u8]| {
    // web.yml values are strings; invalid UTF-8 is refused before this parser is reached.
    let text = String::from_utf8_lossy(data);
    let b = text.as_bytes();
    let result = GoBcryptHash::parse(&text);
    let message = match &result {
        Ok(h) => format!("{h:?}"),
        Err(e) => e.to_string(),
    };
    assert!(!message.is_empty());

    // Go's order of checks.
    if b.len() < 59 {
        assert_eq!(result, Err(GoBcryptError::TooShort));
        return;
    }
    if b[0] != b'$' {
        assert_eq!(result, Err(GoBcryptError::InvalidPrefix(b[0])));
        return;
    }
    if b[1] > b'2' {
        assert_eq!(result, Err(GoBcryptError::VersionTooNew(b[1])));
        return;
    }
    let cost_at = if b[2] == b'$' { 3 } else { 4 };
    let cost_text = std::str::from_utf8(&b[cost_at..cost_at + 2]).ok();
    // strconv.Atoi on two bytes: optional sign, then at least one digit, digits only.
    let cost = cost_text.and_then(|t| {
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            t.parse::<i64>().ok()
        }
    });
    let Some(cost) = cost else {
        assert_eq!(
            result,
            Err(GoBcryptError::CostSyntax([b[cost_at], b[cost_at + 1]]))
        );
        return;
    };
    if !(4..=31).contains(&cost) {
        assert_eq!(result, Err(GoBcryptError::CostOutOfRange(cost)));
        return;
    }
    let h = result.expect("every check passed, Go accepts the hash");
    assert_eq!(i64::from(h.cost), cost);
    let salt_at = cost_at + 3;
    assert_eq!(
        &h.encoded_salt[..],
        &b[salt_at..salt_at + ENCODED_SALT_SIZE]
    );
    let rest = &b[salt_at + ENCODED_SALT_SIZE..];
    let n = rest.len().min(ENCODED_HASH_SIZE);
    assert_eq!(&h.encoded_hash[..n], &rest[..n]);
    assert!(h.encoded_hash[n..].iter().all(|&c| c == 0));

    if h.cost == 4 {
        // Cheap enough to run on every such input (~1 ms).
        let matched = go_compare(&h, b"password");
        // A hash made by the bcrypt crate from this salt always matches itself.
        if matched {
            assert!(h.encoded_hash.iter().all(|&c| c != 0));
        }
    }
});
