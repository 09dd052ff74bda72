//! bcrypt hash strings parsed exactly as Go's `golang.org/x/crypto/bcrypt` parses them.
//!
//! Go is lenient (spec §6.5): any byte ≤ `2` as the major version, any minor byte, unchecked
//! separator bytes after the version and after the cost, and trailing characters after the
//! 31-character hash are ignored. The error texts are Go's, verbatim, because `web.Validate`
//! reports them (`promtool check web-config` prints them).

use std::fmt;

/// Go's `minHashSize`: shorter strings are refused before anything else is looked at.
const MIN_HASH_SIZE: usize = 59;
/// Length of the encoded salt.
pub const ENCODED_SALT_SIZE: usize = 22;
/// Length of the encoded hash that takes part in a comparison.
pub const ENCODED_HASH_SIZE: usize = 31;
const MIN_COST: i64 = 4;
const MAX_COST: i64 = 31;

/// A bcrypt hash string that Go's `bcrypt.Cost()` accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct GoBcryptHash {
    /// The cost (4..=31).
    pub cost: u32,
    /// The 22 salt characters, undecoded (an invalid alphabet only fails at compare time).
    pub encoded_salt: [u8; ENCODED_SALT_SIZE],
    /// The hash characters that take part in a comparison: the first 31 after the salt, padded
    /// with zero bytes when the string is shorter (as Go's fixed 60-byte buffer does).
    pub encoded_hash: [u8; ENCODED_HASH_SIZE],
}

impl fmt::Debug for GoBcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Salt and hash stay out of logs.
        f.debug_struct("GoBcryptHash")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

/// Why Go refuses a hash string. `Display` is Go's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoBcryptError {
    /// `ErrHashTooShort`.
    TooShort,
    /// `InvalidHashPrefixError`: the first byte is not `$`.
    InvalidPrefix(u8),
    /// `HashVersionTooNewError`: the major version byte is above `2`.
    VersionTooNew(u8),
    /// `strconv.Atoi` failed on the two cost bytes.
    CostSyntax([u8; 2]),
    /// `InvalidCostError`.
    CostOutOfRange(i64),
}

impl fmt::Display for GoBcryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => {
                f.write_str("crypto/bcrypt: hashedSecret too short to be a bcrypted password")
            }
            Self::InvalidPrefix(b) => write!(
                f,
                "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with '{}'",
                go_percent_c(*b)
            ),
            Self::VersionTooNew(b) => write!(
                f,
                "crypto/bcrypt: bcrypt algorithm version '{}' requested is newer than current version '2'",
                go_percent_c(*b)
            ),
            Self::CostSyntax(bytes) => write!(
                f,
                "strconv.Atoi: parsing {}: invalid syntax",
                go_quote_bytes(bytes)
            ),
            Self::CostOutOfRange(cost) => write!(
                f,
                "crypto/bcrypt: cost {cost} is outside allowed range ({MIN_COST},{MAX_COST})"
            ),
        }
    }
}

impl std::error::Error for GoBcryptError {}

impl GoBcryptHash {
    /// Parses a hash string as Go's `newFromHash` does.
    pub fn parse(hash: &str) -> Result<Self, GoBcryptError> {
        let bytes = hash.as_bytes();
        if bytes.len() < MIN_HASH_SIZE {
            return Err(GoBcryptError::TooShort);
        }
        // Version: `$`, a major byte ≤ '2', an optional minor byte, then one unchecked byte.
        if bytes[0] != b'$' {
            return Err(GoBcryptError::InvalidPrefix(bytes[0]));
        }
        if bytes[1] > b'2' {
            return Err(GoBcryptError::VersionTooNew(bytes[1]));
        }
        let mut pos = if bytes[2] != b'$' { 4 } else { 3 };
        // Cost: two bytes through strconv.Atoi, then one unchecked byte.
        let cost_bytes = [bytes[pos], bytes[pos + 1]];
        let cost = go_atoi_2(cost_bytes).ok_or(GoBcryptError::CostSyntax(cost_bytes))?;
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(GoBcryptError::CostOutOfRange(cost));
        }
        pos += 3;
        // Length ≥ 59 guarantees the 22 salt bytes are there (pos ≤ 7).
        let mut encoded_salt = [0u8; ENCODED_SALT_SIZE];
        encoded_salt.copy_from_slice(&bytes[pos..pos + ENCODED_SALT_SIZE]);
        pos += ENCODED_SALT_SIZE;
        let rest = &bytes[pos..];
        let mut encoded_hash = [0u8; ENCODED_HASH_SIZE];
        let n = rest.len().min(ENCODED_HASH_SIZE);
        encoded_hash[..n].copy_from_slice(&rest[..n]);
        Ok(Self {
            cost: cost as u32,
            encoded_salt,
            encoded_hash,
        })
    }
}

/// `strconv.Atoi` on exactly two bytes: an optional sign followed by decimal digits.
fn go_atoi_2(bytes: [u8; 2]) -> Option<i64> {
    let (negative, digits): (bool, &[u8]) = match bytes[0] {
        b'+' => (false, &bytes[1..]),
        b'-' => (true, &bytes[1..]),
        _ => (false, &bytes[..]),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Go's `%c` of a byte: the byte read as a Unicode code point (Latin-1), UTF-8 encoded.
fn go_percent_c(b: u8) -> char {
    char::from(b)
}

/// Go's `%q` of a byte string (as `strconv.Quote` of `string(bytes)`): printable runes as they
/// are, invalid UTF-8 bytes as `\xNN`, the usual escapes otherwise.
pub fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if c.is_control() => {
                    let v = c as u32;
                    if v < 0x80 {
                        out.push_str(&format!("\\x{v:02x}"));
                    } else if v <= 0xffff {
                        out.push_str(&format!("\\u{v:04x}"));
                    } else {
                        out.push_str(&format!("\\U{v:08x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAROL: &str = "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";

    #[test]
    fn accepts_a_standard_hash() {
        let h = GoBcryptHash::parse(CAROL).unwrap();
        assert_eq!(h.cost, 10);
        assert_eq!(&h.encoded_salt, b"qRTBuFoULoYNA7AQ/F3ck.");
    }

    #[test]
    fn go_error_texts() {
        let cases: &[(&str, &str)] = &[
            (
                "doe",
                "crypto/bcrypt: hashedSecret too short to be a bcrypted password",
            ),
            (
                "",
                "crypto/bcrypt: hashedSecret too short to be a bcrypted password",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(GoBcryptHash::parse(input).unwrap_err().to_string(), *want);
        }
        let x = format!("x{}", &CAROL[1..]);
        assert_eq!(
            GoBcryptHash::parse(&x).unwrap_err().to_string(),
            "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with 'x'"
        );
        let v3 = CAROL.replacen("$2y", "$3y", 1);
        assert_eq!(
            GoBcryptHash::parse(&v3).unwrap_err().to_string(),
            "crypto/bcrypt: bcrypt algorithm version '3' requested is newer than current version '2'"
        );
        let c32 = CAROL.replacen("$10$", "$32$", 1);
        assert_eq!(
            GoBcryptHash::parse(&c32).unwrap_err().to_string(),
            "crypto/bcrypt: cost 32 is outside allowed range (4,31)"
        );
        let cab = CAROL.replacen("$10$", "$ab$", 1);
        assert_eq!(
            GoBcryptHash::parse(&cab).unwrap_err().to_string(),
            "strconv.Atoi: parsing \"ab\": invalid syntax"
        );
    }

    #[test]
    fn go_leniency() {
        // No minor letter: one byte shorter, still ≥ 59.
        let no_minor = CAROL.replacen("$2y$", "$2$", 1);
        assert_eq!(GoBcryptHash::parse(&no_minor).unwrap().cost, 10);
        for v in ["$2z$", "$1y$", "$0a$"] {
            assert!(
                GoBcryptHash::parse(&CAROL.replacen("$2y$", v, 1)).is_ok(),
                "{v}"
            );
        }
        // Unchecked separators.
        let seps = CAROL.replacen("$2y$10$", "$2y#10#", 1);
        assert_eq!(
            GoBcryptHash::parse(&seps).unwrap(),
            GoBcryptHash::parse(CAROL).unwrap()
        );
        // Trailing characters are ignored.
        let trailing = format!("{CAROL}XYZ");
        assert_eq!(
            GoBcryptHash::parse(&trailing).unwrap(),
            GoBcryptHash::parse(CAROL).unwrap()
        );
        // Atoi takes a sign.
        assert_eq!(
            GoBcryptHash::parse(&CAROL.replacen("$10$", "$+9$", 1))
                .unwrap()
                .cost,
            9
        );
        assert_eq!(
            GoBcryptHash::parse(&CAROL.replacen("$10$", "$-5$", 1))
                .unwrap_err()
                .to_string(),
            "crypto/bcrypt: cost -5 is outside allowed range (4,31)"
        );
    }
}
