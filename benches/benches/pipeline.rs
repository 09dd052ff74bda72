//! The Gate pipeline in process: one request through the `rate_limit` bucket, the configured
//! headers and a cache-hit basic-auth check, then to a no-op upstream (the built-in sample
//! exporter on loopback, over a pooled keep-alive connection), and the same request denied
//! (401 from the failure cache) and refused (429) without reaching the upstream.
//!
//! Run briefly with: `cargo bench -p scrapegate-benches --bench pipeline -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use scrapegate_config::{RateLimit, User, ValidatedConfig};
use scrapegate_server::http::{Request, StatusCode};
use scrapegate_server::{Gateway, Handler, Routes, ServerOptions, body};

/// `Basic base64("bench:bench")`.
const GOOD: &str = "Basic YmVuY2g6YmVuY2g=";
/// `Basic base64("bench:wrong")`.
const BAD: &str = "Basic YmVuY2g6d3Jvbmc=";

fn config(rate_limit: RateLimit) -> ValidatedConfig {
    ValidatedConfig {
        path: "web.yml".into(),
        tls: None,
        http2: true,
        headers: vec![
            ("X-Frame-Options".into(), "deny".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
            (
                "Strict-Transport-Security".into(),
                "max-age=31536000; includeSubDomains".into(),
            ),
        ],
        users: vec![User {
            name: "bench".into(),
            hash: scrapegate_auth::hash_password(b"bench", 4).expect("hash"),
        }],
        rate_limit,
        files: Vec::new(),
    }
}

async fn gateway(rate_limit: RateLimit) -> Gateway {
    let sample = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", sample.local_addr().unwrap());
    scrapegate_server::sample::spawn(sample);
    let routes = Routes::new(Some(&upstream), &[]).unwrap();
    let cfg = config(rate_limit);
    Gateway::new(Some(&cfg), routes, ServerOptions::default())
        .unwrap()
        .0
}

async fn once(gw: &Gateway, authorization: &'static str) -> StatusCode {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let req = Request::get("/metrics")
        .header("authorization", authorization)
        .body(body::full(&b""[..]))
        .unwrap();
    let resp = gw.handle(req, peer, true, Handler::Proxy).await;
    let status = resp.status();
    black_box(body::collect(resp.into_body()).await.unwrap());
    status
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A bucket that never runs dry during the bench, so the limiter is on the path.
    let roomy = RateLimit {
        interval_nanos: 1,
        burst: i64::MAX,
    };
    let gw = rt.block_on(gateway(roomy));
    // Warm the caches and the upstream pool.
    assert_eq!(rt.block_on(once(&gw, GOOD)), StatusCode::OK);
    assert_eq!(rt.block_on(once(&gw, BAD)), StatusCode::UNAUTHORIZED);

    let mut g = c.benchmark_group("gate");
    g.bench_function("allowed_cache_hit_to_noop_upstream", |b| {
        b.to_async(&rt).iter(|| once(&gw, GOOD))
    });
    g.bench_function("denied_failure_cache_hit_401", |b| {
        b.to_async(&rt).iter(|| once(&gw, BAD))
    });
    let closed = rt.block_on(gateway(RateLimit {
        interval_nanos: 1_000_000_000,
        burst: 0,
    }));
    g.bench_function("rate_limited_429", |b| {
        b.to_async(&rt).iter(|| once(&closed, GOOD))
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
