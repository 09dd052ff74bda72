//! Bearer tokens (`Authorization: Bearer <token>`, RFC 6750), checked against the SHA-256
//! digests `scrapegate.yml` configures. Tokens are high-entropy, so one SHA-256 stands in for
//! bcrypt; the digest of the presented token is compared with every configured digest in
//! constant time, and every comparison runs whatever the outcome, so neither timing nor the
//! order of the tokens tells an attacker how close a guess was.

use scrapegate_model::BearerToken;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The configured tokens of one generation.
#[derive(Clone, Default)]
pub struct BearerTokens {
    tokens: Vec<BearerToken>,
}

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerTokens")
            .field("count", &self.tokens.len())
            .finish()
    }
}

/// The token part of an `Authorization: Bearer` value: the scheme is case-insensitive and the
/// token is everything after the spaces that follow it (RFC 6750 `b64token` is not enforced:
/// an unusual token simply matches nothing). `None` for any other scheme or an empty token.
pub fn parse_bearer(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let (scheme, rest) = value.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

impl BearerTokens {
    /// The tokens of a validated `scrapegate.yml`.
    pub fn new(tokens: &[BearerToken]) -> Self {
        Self {
            tokens: tokens.to_vec(),
        }
    }

    /// True when no token is configured (bearer authentication is off).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The name of the configured token equal to `token`, if any.
    pub fn verify(&self, token: &[u8]) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Index + 1 of the match (0: none), selected without branching on secret data.
        let mut found = 0u32;
        for (i, candidate) in self.tokens.iter().enumerate() {
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let equal = candidate.sha256.ct_eq(&digest);
            found = u32::conditional_select(&found, &index, equal);
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.tokens.get(index).map(|t| t.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str) -> BearerToken {
        BearerToken {
            name: name.into(),
            sha256: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    #[test]
    fn finds_the_matching_token_only() {
        let tokens = BearerTokens::new(&[
            token("prometheus", "a-long-random-token-1"),
            token("grafana", "a-long-random-token-2"),
        ]);
        assert_eq!(tokens.verify(b"a-long-random-token-2"), Some("grafana"));
        assert_eq!(tokens.verify(b"a-long-random-token-1"), Some("prometheus"));
        assert_eq!(tokens.verify(b"a-long-random-token-3"), None);
        assert_eq!(tokens.verify(b""), None);
        assert_eq!(BearerTokens::default().verify(b"x"), None);
    }

    #[test]
    fn bearer_scheme_parsing() {
        assert_eq!(parse_bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(parse_bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(parse_bearer(b"BEARER abc"), Some(&b"abc"[..]));
        assert_eq!(parse_bearer(b"Bearer"), None);
        assert_eq!(parse_bearer(b"Bearer "), None);
        assert_eq!(parse_bearer(b"Bearerabc"), None);
        assert_eq!(parse_bearer(b"Basic YWJj"), None);
    }

    #[test]
    fn debug_shows_no_digest() {
        let tokens = BearerTokens::new(&[token("prometheus", "a-long-random-token-1")]);
        let text = format!("{tokens:?}");
        assert!(
            !text.contains("prometheus") && text.contains("count: 1"),
            "{text}"
        );
    }
}
