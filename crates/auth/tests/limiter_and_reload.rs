//! The per-source failure limiter and user-table reloads.

mod common;

use std::time::Duration;

use common::{basic, hash, ip, settings};
use scrapegate_auth::{AuthDecision, AuthSettings, Authenticator};

fn limited_settings(limit: u32) -> AuthSettings {
    AuthSettings {
        failure_limit: limit,
        failure_window: Duration::from_secs(60),
        ..settings(2, 8)
    }
}

#[tokio::test]
async fn failing_source_is_limited_but_cached_good_credentials_pass() {
    let h1 = hash(b"one", 4);
    let h2 = hash(b"two", 4);
    let a = Authenticator::new(
        [("u1", h1.as_str()), ("u2", h2.as_str())],
        limited_settings(3),
    )
    .unwrap();
    let attacker = ip("192.0.2.7");
    let other = ip("198.51.100.1");
    let good1 = basic("u1", b"one");
    assert_eq!(a.check(Some(&good1), attacker).await, AuthDecision::Allow);

    for i in 0..3 {
        let wrong = basic("u1", format!("guess{i}").as_bytes());
        assert_eq!(a.check(Some(&wrong), attacker).await, AuthDecision::Deny);
    }
    let runs = a.metrics().bcrypt_runs();
    let wrong = basic("u1", b"guess-more");
    match a.check(Some(&wrong), attacker).await {
        AuthDecision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
        }
        other => panic!("expected Limited, got {other:?}"),
    }
    // Unknown users are limited too, and no bcrypt runs for limited attempts.
    let unknown = basic("ghost", b"x");
    assert!(matches!(
        a.check(Some(&unknown), attacker).await,
        AuthDecision::Limited { .. }
    ));
    assert_eq!(a.metrics().bcrypt_runs(), runs);
    assert_eq!(a.metrics().limited(), 2);

    // Already-verified credentials are still accepted from the limited source.
    assert_eq!(a.check(Some(&good1), attacker).await, AuthDecision::Allow);
    // A correct but uncached credential is not verified from there...
    let good2 = basic("u2", b"two");
    assert!(matches!(
        a.check(Some(&good2), attacker).await,
        AuthDecision::Limited { .. }
    ));
    // ...while other sources are unaffected.
    assert_eq!(a.check(Some(&good2), other).await, AuthDecision::Allow);
    assert_eq!(a.check(Some(&wrong), other).await, AuthDecision::Deny);
}

#[tokio::test]
async fn malformed_headers_do_not_count_as_failures() {
    let h = hash(b"pw", 4);
    let a = Authenticator::new([("u", h.as_str())], limited_settings(2)).unwrap();
    let peer = ip("192.0.2.8");
    for _ in 0..10 {
        assert_eq!(a.check(None, peer).await, AuthDecision::Deny);
        assert_eq!(a.check(Some(b"Basic !!"), peer).await, AuthDecision::Deny);
    }
    assert_eq!(
        a.check(Some(&basic("u", b"pw")), peer).await,
        AuthDecision::Allow
    );
}

#[tokio::test]
async fn reload_keeps_entries_of_unchanged_hashes_only() {
    let ha = hash(b"pa", 4);
    let hb = hash(b"pb", 4);
    let peer = ip("127.0.0.1");
    let a = Authenticator::new([("a", ha.as_str()), ("b", hb.as_str())], settings(2, 8)).unwrap();
    let (ga, gb) = (basic("a", b"pa"), basic("b", b"pb"));
    assert_eq!(a.check(Some(&ga), peer).await, AuthDecision::Allow);
    assert_eq!(a.check(Some(&gb), peer).await, AuthDecision::Allow);
    assert_eq!(a.metrics().bcrypt_runs(), 2);

    // b's password changes; a's hash stays.
    let hb2 = hash(b"pb2", 4);
    a.replace_users([("a", ha.as_str()), ("b", hb2.as_str())])
        .unwrap();
    assert_eq!(a.check(Some(&ga), peer).await, AuthDecision::Allow);
    assert_eq!(a.metrics().bcrypt_runs(), 2, "a is still cached");
    assert_eq!(
        a.check(Some(&gb), peer).await,
        AuthDecision::Deny,
        "old password refused"
    );
    assert_eq!(
        a.check(Some(&basic("b", b"pb2")), peer).await,
        AuthDecision::Allow
    );

    // a is removed: its cached success must not let it in.
    a.replace_users([("b", hb2.as_str())]).unwrap();
    assert_eq!(a.check(Some(&ga), peer).await, AuthDecision::Deny);

    // A bad table is refused and the previous one stays in force.
    let err = a.replace_users([("b", "not a hash")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "crypto/bcrypt: hashedSecret too short to be a bcrypted password"
    );
    assert_eq!(
        a.check(Some(&basic("b", b"pb2")), peer).await,
        AuthDecision::Allow
    );

    // Emptying the table turns auth off, as in Go.
    a.replace_users([]).unwrap();
    assert!(!a.has_users());
    assert_eq!(a.check(None, peer).await, AuthDecision::Allow);
}
