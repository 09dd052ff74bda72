//! Coalescing and cancel-safety: identical misses share one detached bcrypt.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::settings;
use scrapegate_auth::{AuthDecision, Authenticator};
use scrapegate_testkit::{LOCAL, basic, hash_cost, users, wait_until_async};
use tokio::task::JoinSet;

async fn concurrent(
    a: &Arc<Authenticator>,
    n: usize,
    password: &'static [u8],
) -> Vec<AuthDecision> {
    let header: Arc<[u8]> = basic("u", password).into_bytes().into();
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let a = Arc::clone(a);
        let header = Arc::clone(&header);
        tasks.spawn(async move { a.check(Some(&header), LOCAL).await });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(d) = tasks.join_next().await {
        out.push(d.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_checks_of_a_new_credential_run_bcrypt_once() {
    let h = hash_cost(b"secret", 8);
    // A queue of 1 shows that joiners do not take queue slots.
    let a = Arc::new(Authenticator::new(
        &users(&[("u", h.as_str())]),
        settings(2, 1),
    ));
    let decisions = concurrent(&a, 1000, b"secret").await;
    assert!(decisions.iter().all(|d| *d == AuthDecision::Allow));
    let m = a.metrics();
    assert_eq!(m.bcrypt_runs(), 1);
    assert_eq!(m.cache_hits() + m.cache_misses(), 1000);
    // Every other miss joined the one job (or, arriving just as it finished, read its
    // verdict from the cache under the registry lock).
    assert!(m.coalesced() < m.cache_misses());
    assert_eq!(m.allowed(), 1000);
    assert_eq!(m.busy(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_wrong_passwords_run_bcrypt_once() {
    let h = hash_cost(b"secret", 8);
    let a = Arc::new(Authenticator::new(
        &users(&[("u", h.as_str())]),
        settings(2, 1),
    ));
    let decisions = concurrent(&a, 1000, b"guess").await;
    assert!(decisions.iter().all(|d| *d == AuthDecision::Deny));
    assert_eq!(a.metrics().bcrypt_runs(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_check_neither_wastes_nor_restarts_its_bcrypt() {
    // Cost 10 takes tens of milliseconds; a 1 ms timeout always cancels the first check.
    let h = hash_cost(b"secret", 10);
    let a = Authenticator::new(&users(&[("u", h.as_str())]), settings(1, 4));
    let header = basic("u", b"secret");
    let first = tokio::time::timeout(
        Duration::from_millis(1),
        a.check(Some(header.as_bytes()), LOCAL),
    )
    .await;
    assert!(first.is_err(), "the first check should have been cancelled");
    // A second caller arriving while the job runs joins it instead of starting another.
    assert_eq!(
        a.check(Some(header.as_bytes()), LOCAL).await,
        AuthDecision::Allow
    );
    assert_eq!(a.metrics().bcrypt_runs(), 1);

    // Cancel the only waiter and nobody asks again: the job still finishes and is cached.
    let other = basic("u", b"wrong");
    let cancelled = tokio::time::timeout(
        Duration::from_millis(1),
        a.check(Some(other.as_bytes()), LOCAL),
    )
    .await;
    assert!(cancelled.is_err());
    wait_until_async("the detached job", Duration::from_secs(30), || {
        a.metrics().bcrypt_runs() == 2 && a.metrics().queue_depth() == 0
    })
    .await;
    let failures_before = a.metrics().failure_hits();
    assert_eq!(
        a.check(Some(other.as_bytes()), LOCAL).await,
        AuthDecision::Deny
    );
    assert_eq!(
        a.metrics().failure_hits(),
        failures_before + 1,
        "served from the cache"
    );
    assert_eq!(a.metrics().bcrypt_runs(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_busy_at_once() {
    let h = hash_cost(b"secret", 10);
    let a = Arc::new(Authenticator::new(
        &users(&[("u", h.as_str())]),
        settings(1, 0),
    ));
    // One thread, no queue: of several distinct misses at once, the extra ones are refused.
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let a = Arc::clone(&a);
        tasks.spawn(async move {
            let header = basic("u", format!("wrong{i}").as_bytes());
            a.check(Some(header.as_bytes()), LOCAL).await
        });
    }
    let mut busy = 0;
    while let Some(d) = tasks.join_next().await {
        match d.unwrap() {
            AuthDecision::Busy { retry_after } => {
                assert!(retry_after >= Duration::from_secs(1));
                busy += 1;
            }
            AuthDecision::Deny => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(busy > 0, "some misses must be refused");
    assert_eq!(a.metrics().busy(), busy);
    assert_eq!(a.metrics().bcrypt_runs() + busy, 8);
}
