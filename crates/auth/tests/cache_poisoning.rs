//! Cache-key attacks from the advisories: CVE-2022-46146 (exporter-toolkit) and Traefik's
//! GHSA-6765-c87h-8mrf and GHSA-8fcf-v89g-xpg6. None may authenticate, cold or warm.

mod common;

use std::sync::Arc;

use common::settings;
use scrapegate_auth::{AuthDecision, Authenticator};
use scrapegate_testkit::{LOCAL, basic, hash_cost, users};

/// exporter-toolkit testdata, made by Go: alice / alice123 at cost 12.
const ALICE: &str = "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby";
/// The CVE-2022-46146 user name: alice followed by her hash.
const CVE_USER: &str = "alice$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby";
/// The CVE-2022-46146 password for alice: Go's fixed decoy followed by "fakepassword".
const CVE_PASSWORD: &[u8] =
    b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSifakepassword";

async fn check(a: &Authenticator, user: &str, password: &[u8]) -> AuthDecision {
    a.check(Some(basic(user, password).as_bytes()), LOCAL).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2022_46146_patterns_never_authenticate() {
    // Both orders, each twice (cold, then warm), with alice's real login cached first in one.
    for alice_first in [true, false] {
        let a = Authenticator::new(&users(&[("alice", ALICE)]), settings(2, 8));
        if alice_first {
            assert_eq!(check(&a, "alice", b"alice123").await, AuthDecision::Allow);
        }
        for _ in 0..2 {
            assert_eq!(
                check(&a, CVE_USER, b"fakepassword").await,
                AuthDecision::Deny
            );
            assert_eq!(check(&a, "alice", CVE_PASSWORD).await, AuthDecision::Deny);
        }
        if !alice_first {
            assert_eq!(check(&a, "alice", b"alice123").await, AuthDecision::Allow);
            assert_eq!(
                check(&a, CVE_USER, b"fakepassword").await,
                AuthDecision::Deny
            );
            assert_eq!(check(&a, "alice", CVE_PASSWORD).await, AuthDecision::Deny);
        }
    }
}

#[tokio::test]
async fn traefik_concatenation_pattern_never_authenticates() {
    // GHSA-6765: key = password ‖ stored hash, and an unknown user's stored hash is empty, so
    // "pw" + hash for an unknown user collided with the real user's "pw" entry.
    let h = hash_cost(b"pw", 4);
    let a = Authenticator::new(&users(&[("admin", h.as_str())]), settings(1, 8));
    let forged = format!("pw{h}");
    for round in 0..2 {
        for user in ["mallory", "", "admin ", "adminpw"] {
            assert_eq!(
                check(&a, user, forged.as_bytes()).await,
                AuthDecision::Deny,
                "{user:?} round {round}"
            );
        }
        assert_eq!(
            check(&a, "admin", forged.as_bytes()).await,
            AuthDecision::Deny
        );
        // Warm the real credential after the first round.
        assert_eq!(check(&a, "admin", b"pw").await, AuthDecision::Allow);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cost_and_coalesce_like_known_ones() {
    // GHSA-8fcf: timing under concurrency revealed which users exist. Here an unknown user
    // runs exactly one bcrypt at the configured cost, and N identical concurrent attempts
    // coalesce into one run, exactly as for a known user with a wrong password.
    let h = hash_cost(b"pw", 6);
    let a = Arc::new(Authenticator::new(
        &users(&[("known", h.as_str())]),
        settings(2, 64),
    ));
    for (user, runs_after) in [("known", 1), ("unknown", 2)] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let a = Arc::clone(&a);
            tasks
                .spawn(async move { a.check(Some(basic(user, b"wrong").as_bytes()), LOCAL).await });
        }
        while let Some(decision) = tasks.join_next().await {
            assert_eq!(decision.unwrap(), AuthDecision::Deny);
        }
        assert_eq!(a.metrics().bcrypt_runs(), runs_after, "{user}");
    }
    // Both runs were at cost 6, i.e. in the same histogram region; the decoy has that cost.
    assert_eq!(a.metrics().bcrypt_duration().count, 2);

    // Traefik's leak: unknown users shared one key per password, so two different unknown
    // names with the same password coalesced (one answered instantly) while known names did
    // not. Here the key covers the name: different names never share a job, known or not.
    let h2 = hash_cost(b"pw", 6);
    let b = Arc::new(Authenticator::new(
        &users(&[("k1", h.as_str()), ("k2", h2.as_str())]),
        settings(2, 64),
    ));
    for pair in [["k1", "k2"], ["ghost1", "ghost2"]] {
        let runs = b.metrics().bcrypt_runs();
        let mut tasks = tokio::task::JoinSet::new();
        for user in pair {
            let b = Arc::clone(&b);
            tasks.spawn(async move { b.check(Some(basic(user, b"same").as_bytes()), LOCAL).await });
        }
        while let Some(decision) = tasks.join_next().await {
            assert_eq!(decision.unwrap(), AuthDecision::Deny);
        }
        assert_eq!(b.metrics().bcrypt_runs(), runs + 2, "{pair:?}");
    }
    assert_eq!(b.metrics().coalesced(), 0);
}
