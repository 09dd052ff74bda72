//! The per-source failure limiter and user-table reloads.

mod common;

use std::time::Duration;

use common::settings;
use scrapegate_auth::{AuthDecision, AuthSettings, Authenticator, GoBcryptHash};
use scrapegate_testkit::{basic, hash_cost, ip, users};

fn limited_settings(limit: u32) -> AuthSettings {
    AuthSettings {
        failure_limit: limit,
        failure_window: Duration::from_secs(60),
        ..settings(2, 8)
    }
}

#[tokio::test]
async fn failing_source_is_limited_but_cached_good_credentials_pass() {
    let h1 = hash_cost(b"one", 4);
    let h2 = hash_cost(b"two", 4);
    let a = Authenticator::new(
        &users(&[("u1", h1.as_str()), ("u2", h2.as_str())]),
        limited_settings(3),
    );
    let attacker = ip("192.0.2.7");
    let other = ip("198.51.100.1");
    let good1 = basic("u1", b"one");
    assert_eq!(
        a.check(Some(good1.as_bytes()), attacker).await,
        AuthDecision::Allow
    );

    for i in 0..3 {
        let wrong = basic("u1", format!("guess{i}").as_bytes());
        assert_eq!(
            a.check(Some(wrong.as_bytes()), attacker).await,
            AuthDecision::Deny
        );
    }
    let runs = a.metrics().bcrypt_runs();
    let wrong = basic("u1", b"guess-more");
    match a.check(Some(wrong.as_bytes()), attacker).await {
        AuthDecision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
        }
        other => panic!("expected Limited, got {other:?}"),
    }
    // Unknown users are limited too, and no bcrypt runs for limited attempts.
    let unknown = basic("ghost", b"x");
    assert!(matches!(
        a.check(Some(unknown.as_bytes()), attacker).await,
        AuthDecision::Limited { .. }
    ));
    assert_eq!(a.metrics().bcrypt_runs(), runs);
    assert_eq!(a.metrics().limited(), 2);

    // Already-verified credentials are still accepted from the limited source.
    assert_eq!(
        a.check(Some(good1.as_bytes()), attacker).await,
        AuthDecision::Allow
    );
    // A correct but uncached credential is not verified from there...
    let good2 = basic("u2", b"two");
    assert!(matches!(
        a.check(Some(good2.as_bytes()), attacker).await,
        AuthDecision::Limited { .. }
    ));
    // ...while other sources are unaffected.
    assert_eq!(
        a.check(Some(good2.as_bytes()), other).await,
        AuthDecision::Allow
    );
    assert_eq!(
        a.check(Some(wrong.as_bytes()), other).await,
        AuthDecision::Deny
    );
}

#[tokio::test]
async fn malformed_headers_do_not_count_as_failures() {
    let h = hash_cost(b"pw", 4);
    let a = Authenticator::new(&users(&[("u", h.as_str())]), limited_settings(2));
    let peer = ip("192.0.2.8");
    for _ in 0..10 {
        assert_eq!(a.check(None, peer).await, AuthDecision::Deny);
        assert_eq!(a.check(Some(b"Basic !!"), peer).await, AuthDecision::Deny);
    }
    assert_eq!(
        a.check(Some(basic("u", b"pw").as_bytes()), peer).await,
        AuthDecision::Allow
    );
}

#[tokio::test]
async fn reload_keeps_entries_of_unchanged_hashes_only() {
    let ha = hash_cost(b"pa", 4);
    let hb = hash_cost(b"pb", 4);
    let peer = ip("127.0.0.1");
    let a = Authenticator::new(
        &users(&[("a", ha.as_str()), ("b", hb.as_str())]),
        settings(2, 8),
    );
    let (ga, gb) = (basic("a", b"pa"), basic("b", b"pb"));
    assert_eq!(
        a.check(Some(ga.as_bytes()), peer).await,
        AuthDecision::Allow
    );
    assert_eq!(
        a.check(Some(gb.as_bytes()), peer).await,
        AuthDecision::Allow
    );
    assert_eq!(a.metrics().bcrypt_runs(), 2);

    // b's password changes; a's hash stays.
    let hb2 = hash_cost(b"pb2", 4);
    a.install_users(a.prepare_users(&users(&[("a", ha.as_str()), ("b", hb2.as_str())])));
    assert_eq!(
        a.check(Some(ga.as_bytes()), peer).await,
        AuthDecision::Allow
    );
    assert_eq!(a.metrics().bcrypt_runs(), 2, "a is still cached");
    assert_eq!(
        a.check(Some(gb.as_bytes()), peer).await,
        AuthDecision::Deny,
        "old password refused"
    );
    assert_eq!(
        a.check(Some(basic("b", b"pb2").as_bytes()), peer).await,
        AuthDecision::Allow
    );

    // a is removed: its cached success must not let it in.
    a.install_users(a.prepare_users(&users(&[("b", hb2.as_str())])));
    assert_eq!(a.check(Some(ga.as_bytes()), peer).await, AuthDecision::Deny);

    // A bad table never gets this far (its hash is refused when parsed, with Go's text), and
    // a table prepared for a reload that then fails elsewhere is never installed: the
    // previous one stays in force.
    let err = GoBcryptHash::parse("not a hash").unwrap_err();
    assert_eq!(
        err.to_string(),
        "crypto/bcrypt: hashedSecret too short to be a bcrypted password"
    );
    let abandoned = a.prepare_users(&users(&[("c", hash_cost(b"pc", 4).as_str())]));
    drop(abandoned);
    assert_eq!(
        a.check(Some(basic("c", b"pc").as_bytes()), peer).await,
        AuthDecision::Deny
    );
    assert_eq!(
        a.check(Some(basic("b", b"pb2").as_bytes()), peer).await,
        AuthDecision::Allow
    );

    // Emptying the table turns auth off, as in Go.
    a.install_users(a.prepare_users(&[]));
    assert!(!a.has_users());
    assert_eq!(a.check(None, peer).await, AuthDecision::Allow);
}

/// The hang-up attack (issue 15, item 1): a client that drops each guess before its verdict
/// used to go uncounted while the background bcrypt still ran and cached the verdict. 61 such
/// guesses from one source, then: the next guess is limited (429), and a password guessed only
/// in a hung-up request does not get in from the limited source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_whose_clients_hang_up_are_still_counted() {
    const GUESSES: usize = 61;
    let secret = hash_cost(b"s3cret", 4);
    let a = std::sync::Arc::new(Authenticator::new(
        &users(&[("admin", secret.as_str())]),
        AuthSettings {
            queue_capacity: 64,
            ..limited_settings(20)
        },
    ));
    let attacker = ip("192.0.2.66");
    let mut refused_at_once = 0;
    for i in 0..GUESSES {
        // The last guess is the right password, asked only by a client that hangs up.
        let password = if i == GUESSES - 1 {
            "s3cret".to_owned()
        } else {
            format!("guess-{i}")
        };
        let header = basic("admin", password.as_bytes());
        // Poll the check once (it queues its bcrypt and returns Pending), then drop it: the
        // client went away.
        let check = a.check(Some(header.as_bytes()), attacker);
        match futures_poll_once(check).await {
            Some(AuthDecision::Limited { .. }) => refused_at_once += 1,
            Some(other) => panic!("guess {i}: unexpected {other:?}"),
            None => {}
        }
        // Let the pool work through what was queued before the next guess, as a patient
        // attacker would.
        scrapegate_testkit::wait_until_async(
            "the guess's bcrypt to finish",
            Duration::from_secs(10),
            || a.metrics().queue_depth() == 0,
        )
        .await;
    }
    eprintln!("{refused_at_once} of {GUESSES} hung-up guesses were refused before any bcrypt");
    // Within the limiter's threshold, the source is refused.
    let next = basic("admin", b"one-more");
    assert!(
        matches!(
            a.check(Some(next.as_bytes()), attacker).await,
            AuthDecision::Limited { .. }
        ),
        "the source must be limited after {GUESSES} hung-up guesses"
    );
    assert!(
        a.metrics().bcrypt_runs() <= 24,
        "bcrypt ran for a limited source"
    );
    // The right password, guessed only in a hung-up request, is not let in from there.
    let right = basic("admin", b"s3cret");
    assert!(matches!(
        a.check(Some(right.as_bytes()), attacker).await,
        AuthDecision::Limited { .. }
    ));
}

/// At most four guesses of one source are queued or running at once; the fifth is limited
/// without queueing a bcrypt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_has_at_most_four_misses_in_flight() {
    let secret = hash_cost(b"s3cret", 4);
    let a = std::sync::Arc::new(Authenticator::new(
        &users(&[("admin", secret.as_str())]),
        // The sixteen guesses are polled back to back, far faster than a cost-4 bcrypt, so at
        // most a job or two can finish (and free a slot) while they arrive.
        AuthSettings {
            queue_capacity: 64,
            ..limited_settings(1000)
        },
    ));
    let attacker = ip("192.0.2.77");
    let mut pending = Vec::new();
    let mut limited = 0;
    for i in 0..16 {
        let header = basic("admin", format!("guess-{i}").as_bytes());
        let check = a.check(Some(header.as_bytes()), attacker);
        match futures_poll_once(check).await {
            Some(AuthDecision::Limited { .. }) => limited += 1,
            Some(_) => {}
            None => pending.push(i),
        }
    }
    assert!(
        pending.len() <= 4 + 2,
        "{} misses of one source were admitted at once",
        pending.len()
    );
    assert!(limited > 0, "the source's extra misses must be limited");
}

/// Polls `future` once: its output if it is ready at once, else `None` (and it is dropped).
async fn futures_poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}
