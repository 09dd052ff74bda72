//! `bearer_tokens`: each a non-empty, unique name and exactly one of `sha256` (64 hex digits)
//! or `token_file` (read relative to scrapegate.yml's directory, trimmed, at least
//! [`MIN_TOKEN_BYTES`], hashed with SHA-256 and wiped). No two tokens may share a digest.

use std::path::Path;

use scrapegate_model::BearerToken;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::raw::RawToken;
use super::{At, Problem};
use crate::go::{io, path as gopath};

/// The shortest token a `token_file` may hold: bearer tokens are compared by their SHA-256
/// digest, which is only safe for high-entropy secrets.
pub(crate) const MIN_TOKEN_BYTES: usize = 16;

/// Validates every token in file order; the first problem wins.
pub(super) fn validate(raw: &[RawToken], dir: &Path) -> Result<Vec<BearerToken>, Problem> {
    let mut tokens: Vec<BearerToken> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let at = At::Token(i, &entry.name);
        if entry.name.is_empty() {
            return Err(Problem::field(at, "name", "must not be empty"));
        }
        if let Some(j) = tokens.iter().position(|t| t.name == entry.name) {
            return Err(Problem::field(
                at,
                "name",
                format_args!("{} is given twice (also bearer_tokens[{j}])", entry.name),
            ));
        }
        let sha256 = match (&entry.sha256, &entry.token_file) {
            (Some(hex), None) => parse_sha256(hex).map_err(|e| Problem::field(at, "sha256", e))?,
            (None, Some(file)) => {
                hash_token_file(dir, file).map_err(|e| Problem::field(at, "token_file", e))?
            }
            (Some(_), Some(_)) => {
                return Err(Problem::entry(
                    at,
                    "both sha256 and token_file are given; give exactly one",
                ));
            }
            (None, None) => {
                return Err(Problem::entry(
                    at,
                    "neither sha256 nor token_file is given; give exactly one",
                ));
            }
        };
        if let Some(j) = tokens.iter().position(|t| t.sha256 == sha256) {
            return Err(Problem::entry(
                at,
                format_args!("the same token as {}", At::Token(j, &tokens[j].name)),
            ));
        }
        tokens.push(BearerToken {
            name: entry.name.clone(),
            sha256,
        });
    }
    Ok(tokens)
}

/// 64 hex digits, either case. The value is not echoed in the error: it is a digest.
fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(format!(
            "must be 64 hex digits (the SHA-256 of the token), not {} characters",
            hex.chars().count()
        ));
    }
    let nibble = |i: usize| -> Result<u8, String> {
        (digits[i] as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("must be 64 hex digits; character {} is not one", i + 1))
    };
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = nibble(2 * i)? << 4 | nibble(2 * i + 1)?;
    }
    Ok(out)
}

/// Reads the token (surrounding whitespace trimmed, as Prometheus trims `credentials_file`),
/// hashes it and wipes the buffer.
fn hash_token_file(dir: &Path, file: &str) -> Result<[u8; 32], String> {
    if file.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let path = gopath::join_dir(dir, file);
    let data = Zeroizing::new(io::read_file(&path)?);
    let token = data.trim_ascii();
    if token.is_empty() {
        return Err(format!("{path} is empty"));
    }
    if token.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "the token in {path} is {} bytes; tokens must be at least {MIN_TOKEN_BYTES} bytes \
             (tokens are high-entropy)",
            token.len()
        ));
    }
    Ok(Sha256::digest(token).into())
}
