//! Scrape coalescing as the gateway wires it: a coalescing route's counters exist from the
//! start (the end-to-end behaviour is in the binary's `coalesce_e2e` tests).

use scrapegate_server::{Gateway, Routes, ServerOptions};

use crate::support::*;

#[tokio::test]
async fn a_coalescing_route_exposes_its_counters_at_zero_from_the_start() {
    let up = upstream().await;
    let routes = Routes::new(Some(&up.url()), &[])
        .unwrap()
        .with_coalescing(true);
    let (gw, _) = Gateway::new(None, routes, ServerOptions::default()).unwrap();
    let text = gw.render_metrics();
    for name in [
        "scrapegate_upstream_coalesced_total",
        "scrapegate_upstream_coalesce_cutoffs_total",
    ] {
        assert!(
            text.lines()
                .any(|l| l == format!("{name}{{route=\"/\"}} 0")),
            "{name} not at 0 for route /:\n{text}"
        );
    }
}
