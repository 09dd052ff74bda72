//! `scrapegate hash-password`: stdin in, a `$2y$` hash out that Go's parser and the bcrypt
//! crate accept; long passwords and bad costs refused.

use std::process::{Command, Output};

use scrapegate_testkit::STARTUP;
use scrapegate_testkit::process::run;

/// `scrapegate hash-password ARGS` with `stdin` (a refused flag exits before reading it).
fn hash_password(args: &[&str], stdin: &[u8]) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_scrapegate"))
            .arg("hash-password")
            .args(args),
        stdin,
        STARTUP,
    )
}

fn printed_hash(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    text.strip_suffix('\n').expect("one line").to_owned()
}

#[test]
fn prints_a_2y_hash_of_the_password_without_its_newline() {
    let out = hash_password(&["--cost", "4"], b"carol123\n");
    let hash = printed_hash(&out);
    assert!(hash.starts_with("$2y$04$"), "{hash}");
    assert_eq!(hash.len(), 60);
    assert!(bcrypt::verify("carol123", &hash).unwrap());
    assert!(!bcrypt::verify("carol123\n", &hash).unwrap());
    let parsed = scrapegate_auth::go_hash::GoBcryptHash::parse(&hash).expect("Go accepts it");
    assert_eq!(parsed.cost, 4);
}

#[test]
fn strips_crlf_and_only_one_line_end() {
    let hash = printed_hash(&hash_password(&["--cost", "4"], b"pw\r\n"));
    assert!(bcrypt::verify("pw", &hash).unwrap());
    let hash = printed_hash(&hash_password(&["--cost", "4"], b"pw\n\n"));
    assert!(bcrypt::verify("pw\n", &hash).unwrap());
}

#[test]
fn default_cost_is_10() {
    let hash = printed_hash(&hash_password(&[], b"x\n"));
    assert!(hash.starts_with("$2y$10$"), "{hash}");
}

#[test]
fn seventy_two_bytes_ok_seventy_three_refused() {
    let hash = printed_hash(&hash_password(&["--cost", "4"], &[b'a'; 72]));
    assert!(bcrypt::verify([b'a'; 72], &hash).unwrap());
    let out = hash_password(&["--cost", "4"], &[b'a'; 73]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("73 bytes"), "{err}");
    assert!(err.contains("at most 72"), "{err}");
}

#[test]
fn bad_cost_refused() {
    for cost in ["3", "32"] {
        let out = hash_password(&["--cost", cost], b"x\n");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the allowed range 4..=31"), "{err}");
    }
}
