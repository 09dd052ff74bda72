//! Routes confine paths (issue 15, item 6): dot segments, plain or percent-encoded, are
//! removed before routing and rewriting, and a path that climbs above `/` is refused with 400,
//! so no request reaches an upstream outside its route's path. The query is never touched.

use scrapegate_server::{Gateway, Routes, ServerOptions, listener};
use scrapegate_testkit::http_client::raw;

use crate::support::*;

#[tokio::test]
async fn dot_segments_never_reach_an_upstream() {
    let node = upstream().await;
    let bb = upstream().await;
    let routes = Routes::new(
        None,
        &[
            format!("/node={}/", node.url()),
            format!("/bb={}/probe", bb.url()),
        ],
    )
    .unwrap();
    let (gw, _) = Gateway::new(None, routes, ServerOptions::default()).unwrap();
    let l = listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gw.serve_proxy(l);

    for climb in [
        "/bb/../../etc/passwd",
        "/bb/%2e%2e/%2e%2e/etc/passwd",
        "/node/%2E%2E/..",
        "/..",
    ] {
        let reply = raw(addr, "GET", climb).await;
        assert!(reply.starts_with("HTTP/1.1 400 "), "{climb}: {reply}");
    }
    // Leaving one route for another lands on the other route, with its rewriting.
    let reply = raw(addr, "GET", "/node/../bb/metrics?target=a/../b").await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    let seen = bb.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/probe/metrics?target=a/../b");
    let reply = raw(addr, "GET", "/node/./x/%2e/metrics").await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    assert_eq!(node.seen()[0].path, "/x/metrics");
    assert!(
        gw.render_metrics()
            .contains(r#"scrapegate_requests_total{code="400",route="none"} 4"#)
    );
}
