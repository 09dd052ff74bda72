//! scrapegate-auth benchmarks: the cache-hit decision, a cold verification at cost 10, and a
//! 64-way coalesced miss at cost 10 (64 identical concurrent checks of a new credential).
//!
//! Run briefly with: `cargo bench -p scrapegate-benches --bench auth -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use scrapegate_auth::{AuthDecision, AuthSettings, Authenticator};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn basic(user: &str, password: &str) -> Vec<u8> {
    scrapegate_testkit::basic(user, password).into_bytes()
}

fn settings() -> AuthSettings {
    AuthSettings {
        failure_limit: 0,
        queue_capacity: 256,
        ..AuthSettings::default()
    }
}

fn authenticator(cost: u32) -> Arc<Authenticator> {
    let hash = scrapegate_auth::hash_password(b"secret", cost).expect("hash");
    Arc::new(Authenticator::new(
        &scrapegate_testkit::users(&[("scraper", &hash)]),
        settings(),
    ))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A cache hit completes on its first poll: poll it directly, so the figure is the decision
/// itself and not an executor round trip.
fn cache_hit(c: &mut Criterion) {
    let auth = authenticator(4);
    let header = basic("scraper", "secret");
    runtime().block_on(async {
        assert_eq!(auth.check(Some(&header), PEER).await, AuthDecision::Allow);
    });
    let mut cx = Context::from_waker(Waker::noop());
    c.bench_function("auth/cache_hit", |b| {
        b.iter(|| {
            let fut = pin!(auth.check(Some(black_box(&header)), PEER));
            match fut.poll(&mut cx) {
                Poll::Ready(d) => black_box(d),
                Poll::Pending => panic!("a cache hit must not wait"),
            }
        })
    });
    assert_eq!(auth.metrics().bcrypt_runs(), 1);
}

/// A miss at cost 10 through the whole path: header, key, tiers, pool, bcrypt, cache insert.
fn cold_verify(c: &mut Criterion) {
    let auth = authenticator(10);
    let rt = runtime();
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group("auth");
    group.sample_size(10);
    group.bench_function("cold_verify_cost10", |b| {
        b.to_async(&rt).iter(|| {
            let header = basic(
                "scraper",
                &format!("wrong-{}", counter.fetch_add(1, Ordering::Relaxed)),
            );
            let auth = Arc::clone(&auth);
            async move {
                let d = auth.check(Some(&header), PEER).await;
                assert_eq!(d, AuthDecision::Deny);
            }
        })
    });
    group.finish();
}

/// 64 identical concurrent checks of a credential nobody checked before: one bcrypt serves all.
fn coalesced_miss(c: &mut Criterion) {
    let auth = authenticator(10);
    let rt = runtime();
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group("auth");
    group.sample_size(10);
    group.bench_function("coalesced_miss_64way_cost10", |b| {
        b.to_async(&rt).iter(|| {
            let header: Arc<[u8]> = basic(
                "scraper",
                &format!("new-{}", counter.fetch_add(1, Ordering::Relaxed)),
            )
            .into();
            let auth = Arc::clone(&auth);
            async move {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..64 {
                    let auth = Arc::clone(&auth);
                    let header = Arc::clone(&header);
                    tasks.spawn(async move { auth.check(Some(&header), PEER).await });
                }
                while let Some(d) = tasks.join_next().await {
                    assert_eq!(d.expect("task"), AuthDecision::Deny);
                }
            }
        })
    });
    group.finish();
    let m = auth.metrics();
    println!(
        "coalesced: {} checks missed, {} joined a running bcrypt, {} bcrypt runs",
        m.cache_misses(),
        m.coalesced(),
        m.bcrypt_runs()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = cache_hit, bearer_verify, cold_verify, coalesced_miss
}

/// On-CPU time of the calling thread in nanoseconds (Linux schedstat), if available.
///
/// Wall-clock figures swing wildly on a shared machine; CPU time per operation does not, so
/// the hit/cold ratio is also reported this way.
fn thread_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn cpu_time_report() {
    if thread_cpu_nanos().is_none() {
        eprintln!("SKIPPED: CPU-time report needs /proc/thread-self/schedstat");
        return;
    }
    let auth = authenticator(4);
    let header = basic("scraper", "secret");
    runtime().block_on(async {
        assert_eq!(auth.check(Some(&header), PEER).await, AuthDecision::Allow);
    });
    let mut cx = Context::from_waker(Waker::noop());
    const HITS: u64 = 1_000_000;
    let before = thread_cpu_nanos().unwrap_or(0);
    for _ in 0..HITS {
        let fut = pin!(auth.check(Some(black_box(&header)), PEER));
        assert!(matches!(
            fut.poll(&mut cx),
            Poll::Ready(AuthDecision::Allow)
        ));
    }
    let hit = (thread_cpu_nanos().unwrap_or(0) - before) as f64 / HITS as f64;

    let hash = scrapegate_auth::GoBcryptHash::parse(
        &scrapegate_auth::hash_password(b"secret", 10).expect("hash"),
    )
    .expect("parse");
    const COLD: u64 = 5;
    let before = thread_cpu_nanos().unwrap_or(0);
    for _ in 0..COLD {
        assert!(scrapegate_auth::go_compare(&hash, black_box(b"secret")));
    }
    let cold = (thread_cpu_nanos().unwrap_or(0) - before) as f64 / COLD as f64;
    println!(
        "cpu time per op: cache hit {:.0} ns, cold bcrypt cost 10 {:.1} ms, ratio 1:{:.0}",
        hit,
        cold / 1e6,
        cold / hit
    );
}

/// A bearer token checked against three configured digests (every comparison runs).
fn bearer_verify(c: &mut Criterion) {
    use sha2::{Digest, Sha256};
    let token = |name: &str, secret: &str| scrapegate_model::BearerToken {
        name: name.into(),
        sha256: Sha256::digest(secret.as_bytes()).into(),
    };
    let tokens = scrapegate_auth::BearerTokens::new(&[
        token("prometheus", "prometheus-token-0123456789abcdef"),
        token("grafana", "grafana-token-0123456789abcdef"),
        token("alertmanager", "alertmanager-token-0123456789ab"),
    ]);
    let header = b"Bearer grafana-token-0123456789abcdef";
    c.bench_function("auth/bearer_verify_3_tokens", |b| {
        b.iter(|| {
            let token = scrapegate_auth::parse_bearer(std::hint::black_box(header)).unwrap();
            assert_eq!(tokens.verify(token), Some("grafana"));
        })
    });
}

fn main() {
    benches();
    cpu_time_report();
    Criterion::default().configure_from_args().final_summary();
}
