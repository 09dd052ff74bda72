//! `scrapegate hash-password [--cost N]`: reads a password on stdin and prints its bcrypt hash
//! in the `$2y$` form web.yml users paste.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Args;

/// bcrypt only uses the first 72 bytes; Go's `GenerateFromPassword` refuses longer passwords,
/// and so do we (a silently truncated password is a trap).
const MAX_PASSWORD_BYTES: usize = 72;
/// Enough to tell "too long" apart without reading an unbounded stream.
const READ_LIMIT: u64 = 4096;

/// Flags of `hash-password`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// bcrypt cost (4..=31). Each step doubles the work: 10 takes about 50 ms per check; every
    /// cache miss pays it.
    #[arg(long, default_value_t = 10)]
    pub cost: u32,
}

/// Runs `hash-password`.
pub fn run(args: HashArgs) -> ExitCode {
    if !(4..=31).contains(&args.cost) {
        eprintln!(
            "scrapegate: error: bcrypt cost {} is outside the allowed range 4..=31",
            args.cost
        );
        return ExitCode::FAILURE;
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(READ_LIMIT).read_to_end(&mut input) {
        eprintln!("scrapegate: error: reading the password from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let password_len = strip_line_end(&input).len();
    let result = if password_len > MAX_PASSWORD_BYTES {
        Err(format!(
            "the password is {password_len} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES} bytes, so it is refused"
        ))
    } else {
        bcrypt::hash_with_result(strip_line_end(&input), args.cost)
            .map(|parts| parts.format_for_version(bcrypt::Version::TwoY))
            .map_err(|e| format!("hashing failed: {e}"))
    };
    wipe(&mut input);
    match result {
        Ok(hash) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{hash}").and_then(|_| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scrapegate: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Drops one trailing `\n` or `\r\n` (what `echo` or a terminal adds), nothing more.
fn strip_line_end(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_suffix(b"\r\n") {
        rest
    } else if let Some(rest) = input.strip_suffix(b"\n") {
        rest
    } else {
        input
    }
}

/// Overwrites the password bytes before the buffer is freed.
fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference; the volatile write keeps the
        // compiler from dropping the store as dead.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::strip_line_end;

    #[test]
    fn strips_exactly_one_line_end() {
        assert_eq!(strip_line_end(b"pw\n"), b"pw");
        assert_eq!(strip_line_end(b"pw\r\n"), b"pw");
        assert_eq!(strip_line_end(b"pw\n\n"), b"pw\n");
        assert_eq!(strip_line_end(b"pw"), b"pw");
        assert_eq!(strip_line_end(b""), b"");
    }
}
