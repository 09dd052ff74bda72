//! A flood of distinct wrong passwords, from many sources (one source alone is cut off by the
//! per-source bounds), must not delay or evict a good cached credential.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::settings;
use scrapegate_auth::{AuthDecision, Authenticator};
use scrapegate_testkit::{LOCAL, basic, hash_cost, users, wait_until_async};
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_credential_is_answered_while_ten_thousand_wrong_passwords_queue() {
    const FLOOD: usize = 10_000;
    let h = hash_cost(b"good", 4);
    // One bcrypt thread and a queue of 1,000 cost-4 jobs: about a second of backlog, and
    // the other ~9,000 wrong passwords are refused with Busy at once.
    let a = Arc::new(Authenticator::new(
        &users(&[("scraper", h.as_str())]),
        settings(1, 1000),
    ));
    let good = basic("scraper", b"good");
    assert_eq!(
        a.check(Some(good.as_bytes()), LOCAL).await,
        AuthDecision::Allow
    );
    assert_eq!(a.metrics().bcrypt_runs(), 1);

    let mut flood = JoinSet::new();
    for i in 0..FLOOD {
        let a = Arc::clone(&a);
        // One address each (198.18.0.0/15, the benchmarking range): a distributed flood.
        let peer = std::net::IpAddr::from([198, 18, (i >> 8) as u8, i as u8]);
        flood.spawn(async move {
            let header = basic("scraper", format!("wrong-{i}").as_bytes());
            a.check(Some(header.as_bytes()), peer).await
        });
    }
    wait_until_async("the flood to queue", Duration::from_secs(30), || {
        a.metrics().queue_depth() > 0
    })
    .await;

    // Every good check completes (deadline-bounded) while the flood is still queued.
    let hits_before = a.metrics().cache_hits();
    for _ in 0..200 {
        let decision = tokio::time::timeout(
            Duration::from_secs(5),
            a.check(Some(good.as_bytes()), LOCAL),
        )
        .await
        .expect("a cached credential must not wait behind the flood");
        assert_eq!(decision, AuthDecision::Allow);
    }
    assert!(
        a.metrics().queue_depth() > 0,
        "the flood should still be queued when the good checks are done"
    );
    assert_eq!(a.metrics().cache_hits(), hits_before + 200);

    let (mut denied, mut busy) = (0, 0);
    while let Some(d) = flood.join_next().await {
        match d.unwrap() {
            AuthDecision::Deny => denied += 1,
            AuthDecision::Busy { .. } => busy += 1,
            other => panic!("flood got {other:?}"),
        }
    }
    assert_eq!(denied + busy, FLOOD);
    assert!(busy > 0, "a bounded queue refuses part of the flood");
    assert_eq!(a.metrics().busy(), busy as u64);
    eprintln!("flood: {denied} denied after bcrypt, {busy} refused as busy");

    // Still cached afterwards: answered without bcrypt.
    let runs = a.metrics().bcrypt_runs();
    assert_eq!(
        a.check(Some(good.as_bytes()), LOCAL).await,
        AuthDecision::Allow
    );
    assert_eq!(a.metrics().bcrypt_runs(), runs);
    assert_eq!(a.metrics().cache_hits(), hits_before + 201);
}
