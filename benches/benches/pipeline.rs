//! The Gate pipeline in process: one request through the `rate_limit` bucket, the configured
//! headers and a cache-hit basic-auth check, then to a no-op upstream (the built-in sample
//! exporter on loopback, over a pooled keep-alive connection), and the same request denied
//! (401 from the failure cache) and refused (429) without reaching the upstream.
//!
//!
//! The `gate_only` group runs the gate's stages alone (`Gateway::admit`: rate limit, auth,
//! the route's rules; an admitted request is answered at once), so the cost of a route rule
//! shows against the same request without one.
//!
//! Run briefly with: `cargo bench -p scrapegate-benches --bench pipeline -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use scrapegate_config::{RateLimit, ValidatedConfig};
use scrapegate_server::http::{Request, StatusCode};
use scrapegate_server::{Gateway, Routes, ServerOptions};
use scrapegate_testkit::{TestUpstream, hash, users};

/// `Basic base64("bench:bench")`.
const GOOD: &str = "Basic YmVuY2g6YmVuY2g=";
/// `Basic base64("bench:wrong")`.
const BAD: &str = "Basic YmVuY2g6d3Jvbmc=";

fn config(rate_limit: RateLimit) -> ValidatedConfig {
    ValidatedConfig {
        path: "web.yml".into(),
        tls: None,
        http2: true,
        headers: [
            ("x-frame-options", "deny"),
            ("x-content-type-options", "nosniff"),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect(),
        users: users(&[("bench", &hash("bench"))]),
        rate_limit,
        files: Vec::new(),
    }
}

/// The gateway in front of a real upstream on loopback (kept alive with the gateway).
async fn gateway(rate_limit: RateLimit) -> (Gateway, TestUpstream) {
    let upstream = TestUpstream::start().await;
    let routes = Routes::new(Some(&upstream.url()), &[]).unwrap();
    let cfg = config(rate_limit);
    let gateway = Gateway::new(Some(&cfg), routes, ServerOptions::default())
        .unwrap()
        .0;
    (gateway, upstream)
}

async fn once(gw: &Gateway, authorization: &'static str) -> StatusCode {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let req = Request::get("/metrics")
        .header("authorization", authorization)
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = gw.handle(req, peer, true).await;
    let status = resp.status();
    black_box(resp.into_body().collect().await.unwrap().to_bytes());
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
    let (gw, _upstream) = rt.block_on(gateway(roomy));
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
    let (closed, _closed_upstream) = rt.block_on(gateway(RateLimit {
        interval_nanos: 1_000_000_000,
        burst: 0,
    }));
    g.bench_function("rate_limited_429", |b| {
        b.to_async(&rt).iter(|| once(&closed, GOOD))
    });
    g.finish();
    gate_only(c, &rt);
}

/// The same cached Basic request through the gate with and without scrapegate.yml rules on
/// its route, and a bearer token through the same rules.
fn gate_only(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use scrapegate_model::{
        Allow, BearerToken, ConfigSet, Policy, RouteRule, UpstreamTransport, UpstreamUrl,
    };
    use sha2::{Digest, Sha256};
    const TOKEN: &str = "prometheus-token-0123456789abcdef";
    let web = config(RateLimit::default());
    let plain = ConfigSet {
        web: Some(web.clone()),
        policy: None,
    };
    let upstream = "http://127.0.0.1:9";
    let flags = Routes::new(Some(upstream), &[]).unwrap();
    let rules = ConfigSet {
        web: Some(web),
        policy: Some(Policy {
            path: "scrapegate.yml".into(),
            tokens: vec![BearerToken {
                name: "prometheus".into(),
                sha256: Sha256::digest(TOKEN.as_bytes()).into(),
            }],
            routes: vec![RouteRule {
                prefix: "/".into(),
                upstream: UpstreamUrl::parse(upstream).unwrap(),
                transport: UpstreamTransport::default(),
                allow: Some(Allow {
                    users: Some(vec!["bench".into()]),
                    tokens: Some(vec!["prometheus".into()]),
                    methods: Some(vec![http::Method::GET, http::Method::HEAD]),
                    ..Allow::default()
                }),
                anonymous: vec!["/-/healthy".into()],
                coalesce: false,
            }],
            client_crls: Vec::new(),
            files: Vec::new(),
        }),
    };
    let start = |set: &ConfigSet, routes: Routes| {
        let _guard = rt.enter();
        Gateway::start(set, routes, ServerOptions::default())
            .unwrap()
            .0
    };
    let without = start(&plain, flags);
    let with = start(&rules, Routes::default());
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let admit = |gw: &Gateway, authorization: String| {
        let gw = gw.clone();
        async move {
            let req = Request::get("/metrics")
                .header("authorization", authorization)
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            assert_eq!(gw.admit(req, peer).await, StatusCode::OK);
        }
    };
    // Warm the success cache of both gateways.
    rt.block_on(admit(&without, GOOD.into()));
    rt.block_on(admit(&with, GOOD.into()));
    let mut g = c.benchmark_group("gate_only");
    g.bench_function("basic_cache_hit", |b| {
        b.to_async(rt).iter(|| admit(&without, GOOD.into()))
    });
    g.bench_function("basic_cache_hit_with_route_rule", |b| {
        b.to_async(rt).iter(|| admit(&with, GOOD.into()))
    });
    g.bench_function("bearer_with_route_rule", |b| {
        b.to_async(rt)
            .iter(|| admit(&with, format!("Bearer {TOKEN}")))
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
