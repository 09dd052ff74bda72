//! HA-replica scrape coalescing in process (`Gateway::handle`, no web.yml so no auth on the
//! path), in front of a real upstream on loopback answering 64 KiB (four 16 KiB reads of the
//! upstream client, so each body is a few chunks of the shared log):
//!
//! * `single`: one scrape on a route without coalescing vs the same scrape on a coalescing
//!   route, where it leads a shared fetch of its own (table insert, the fetch task, the tee):
//!   the join path's cost when nobody joins;
//! * `burst_8`: 8 concurrent scrapes (one leader, seven followers joining the fetch in
//!   flight and draining the whole body) vs the same 8 each sending their own upstream
//!   request.
//!
//! Run briefly with: `cargo bench -p scrapegate-benches --bench coalesce -- --quick`.

use std::hint::black_box;
use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use scrapegate_server::http::{Request, StatusCode};
use scrapegate_server::{Gateway, Routes, ServerOptions};
use scrapegate_testkit::{TestUpstream, UpstreamOptions};

/// The upstream's answer: 64 KiB.
const BODY_LEN: usize = 64 * 1024;

/// A gateway with the default route to `upstream`, coalescing or not.
fn gateway(upstream: &TestUpstream, coalesce: bool) -> Gateway {
    let routes = Routes::new(Some(&upstream.url()), &[])
        .unwrap()
        .with_coalescing(coalesce);
    Gateway::new(None, routes, ServerOptions::default())
        .unwrap()
        .0
}

/// One scrape, its body drained.
async fn scrape(gw: Gateway) -> usize {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let req = Request::get("/metrics")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = gw.handle(req, peer, false).await;
    assert_eq!(resp.status(), StatusCode::OK);
    black_box(resp.into_body().collect().await.unwrap().to_bytes()).len()
}

/// `n` scrapes started together, each its own task on the runtime's worker (where a
/// connection's requests run in the server), all drained.
async fn burst(gw: &Gateway, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(scrape(gw.clone()));
    }
    while let Some(len) = set.join_next().await {
        assert_eq!(len.unwrap(), BODY_LEN);
    }
}

fn coalesce(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let upstream = rt.block_on(TestUpstream::start_with(UpstreamOptions {
        body: Bytes::from(vec![b'x'; BODY_LEN]),
        ..UpstreamOptions::default()
    }));
    let (plain, shared) = {
        let _guard = rt.enter();
        (gateway(&upstream, false), gateway(&upstream, true))
    };
    // Warm the pools, and check that a burst on the coalescing route is one upstream request.
    rt.block_on(burst(&plain, 8));
    rt.block_on(burst(&shared, 8));
    let before = upstream.hits();
    rt.block_on(burst(&shared, 8));
    assert_eq!(
        upstream.hits(),
        before + 1,
        "the 8 scrapes shared one fetch"
    );

    let mut g = c.benchmark_group("coalesce");
    g.bench_function("single/plain", |b| {
        b.to_async(&rt).iter(|| burst(&plain, 1))
    });
    g.bench_function("single/coalescing_leader", |b| {
        b.to_async(&rt).iter(|| burst(&shared, 1))
    });
    g.bench_function("burst_8/plain_8_upstream_requests", |b| {
        b.to_async(&rt).iter(|| burst(&plain, 8))
    });
    g.bench_function("burst_8/coalesced_1_leader_7_joined", |b| {
        b.to_async(&rt).iter(|| burst(&shared, 8))
    });
    g.finish();
}

criterion_group!(benches, coalesce);
criterion_main!(benches);
