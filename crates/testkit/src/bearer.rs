//! Bearer tokens as scrapegate.yml configures them: the `Authorization: Bearer` value a client
//! sends, and the hex SHA-256 digest the file's `sha256:` holds.

/// The `Authorization` value `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The lowercase hex SHA-256 of `token` (what `printf %s "$TOKEN" | sha256sum` prints).
pub fn sha256_hex(token: impl AsRef<[u8]>) -> String {
    use std::fmt::Write;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_ref());
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_sha256sum() {
        // printf %s password | sha256sum
        assert_eq!(
            sha256_hex("password"),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
        assert_eq!(bearer("abc"), "Bearer abc");
    }
}
