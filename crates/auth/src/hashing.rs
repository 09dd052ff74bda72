//! Making bcrypt hashes (for `scrapegate hash-password`, examples and tests).

use std::fmt;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPasswordError {
    /// The cost is outside 4..=31.
    CostOutOfRange(u32),
    /// Longer than 72 bytes: bcrypt would silently ignore the rest, so refuse, as Go's
    /// `GenerateFromPassword` does.
    TooLong(usize),
    /// The random salt could not be drawn.
    Rng(String),
}

impl fmt::Display for HashPasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CostOutOfRange(c) => write!(f, "bcrypt cost {c} is outside allowed range (4,31)"),
            Self::TooLong(n) => write!(f, "password is {n} bytes; bcrypt uses at most 72"),
            Self::Rng(e) => write!(f, "cannot draw a random salt: {e}"),
        }
    }
}

impl std::error::Error for HashPasswordError {}

/// Hashes `password` at `cost` with a random salt, in the `$2y$` form htpasswd and the
/// exporter-toolkit docs use. Takes one bcrypt run at `cost`: call it off the async runtime.
pub fn hash_password(password: &[u8], cost: u32) -> Result<String, HashPasswordError> {
    if !(4..=31).contains(&cost) {
        return Err(HashPasswordError::CostOutOfRange(cost));
    }
    if password.len() > 72 {
        return Err(HashPasswordError::TooLong(password.len()));
    }
    bcrypt::hash_with_result(password, cost)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoY))
        .map_err(|e| HashPasswordError::Rng(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoBcryptHash, go_compare};

    #[test]
    fn round_trips_through_go_parsing() {
        let h = hash_password(b"pw", 4).unwrap();
        assert!(h.starts_with("$2y$04$") && h.len() == 60);
        assert!(go_compare(&GoBcryptHash::parse(&h).unwrap(), b"pw"));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(
            hash_password(b"pw", 3),
            Err(HashPasswordError::CostOutOfRange(3))
        );
        assert_eq!(
            hash_password(&[b'a'; 73], 4),
            Err(HashPasswordError::TooLong(73))
        );
        assert!(hash_password(&[b'a'; 72], 4).is_ok());
    }
}
