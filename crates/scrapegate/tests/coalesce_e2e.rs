//! End-to-end tests of HA-replica scrape coalescing (issue 16, goal 4): the real `scrapegate`
//! binary in front of a gated upstream in this process ([`GatedUpstream`]), whose answers
//! wait until the test opens the gate.
//!
//! Concurrency is made certain, never hoped for: the requests are sent, the test waits
//! (deadline-bounded) until the gateway's `scrapegate_upstream_coalesced_total` says that all
//! but one joined (or, where they must not share, until the upstream has seen each of them),
//! and only then opens the gate.
//!
//! * 2 and 20 concurrent scrapes → 1 upstream request, identical and complete bodies;
//! * a different `Accept` → 2 upstream requests; HEAD and POST never share with GET;
//! * a scrape after the previous fetch finished → a new upstream request (not a cache);
//! * without `--upstream.coalesce` → one upstream request per scrape;
//! * `coalesce: true` in scrapegate.yml turns it on for that route only;
//! * an upstream that resets before the head, or refuses the connection → 502 for every
//!   waiter;
//! * a follower that never reads its body does not slow the reader: the reader gets a
//!   24 MiB body in full, the follower is cut off (counted and logged) and its answer aborted.

use std::net::SocketAddr;
use std::path::Path;

use http::{Method, StatusCode};
use scrapegate_testkit::gated_upstream::{GatedUpstream, big_body, numbered_body};
use scrapegate_testkit::http_client::{Client, Reply};
use scrapegate_testkit::process::{Proc, log_field, spawn};
use scrapegate_testkit::raw_http::{read_answer, stalled_request};
use scrapegate_testkit::{DEADLINE, eventually, free_addr, metric, wait_until_async};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

/// The binary on plain HTTP (no web.yml: no credentials needed) with a telemetry listener.
struct Gateway {
    proc: Proc,
    listen: SocketAddr,
    telemetry: SocketAddr,
}

impl Gateway {
    fn start(extra: &[String]) -> Self {
        let mut args = vec![
            "--web.listen-address=127.0.0.1:0".to_owned(),
            "--web.telemetry-address=127.0.0.1:0".to_owned(),
        ];
        args.extend_from_slice(extra);
        let proc = spawn(SCRAPEGATE, &args);
        let listen = proc.listening_on();
        let telemetry = proc.address_after("Telemetry listening on");
        Self {
            proc,
            listen,
            telemetry,
        }
    }

    /// `--upstream=URL --upstream.coalesce`.
    fn coalescing(upstream: &GatedUpstream) -> Self {
        Self::start(&[
            format!("--upstream={}", upstream.url()),
            "--upstream.coalesce".to_owned(),
        ])
    }

    fn with_config(config: &Path) -> Self {
        Self::start(&[format!("--config.file={}", config.display())])
    }

    async fn metrics(&self) -> String {
        Client::plain()
            .get(self.telemetry, "/metrics", &[])
            .await
            .body
    }

    /// A counter of the route, 0 while absent.
    async fn counter(&self, name: &str, route: &str) -> f64 {
        metric(
            &self.metrics().await,
            &format!("scrapegate_{name}_total{{route=\"{route}\"}}"),
        )
        .unwrap_or(0.0)
    }

    /// Waits until `scrapegate_<name>_total{route}` reads `want`.
    async fn wait_counter(&self, name: &str, route: &str, want: f64) {
        let reached = eventually(DEADLINE, || async {
            self.counter(name, route).await == want
        })
        .await;
        assert!(
            reached,
            "{name}{{route={route:?}}} never reached {want}; it is {}",
            self.counter(name, route).await
        );
    }

    /// `n` concurrent requests of `method path` with `headers`, each on its own connection.
    fn send(
        &self,
        n: usize,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Vec<tokio::task::JoinHandle<Reply>> {
        (0..n)
            .map(|_| {
                let (addr, method, path) = (self.listen, method.clone(), path.to_owned());
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                tokio::spawn(async move {
                    let headers: Vec<(&str, String)> = headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                    Client::plain().request(method, addr, &path, &headers).await
                })
            })
            .collect()
    }
}

async fn replies(pending: Vec<tokio::task::JoinHandle<Reply>>) -> Vec<Reply> {
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        out.push(p.await.expect("request task"));
    }
    out
}

/// Waits until the upstream has seen `n` requests in all.
async fn wait_hits(upstream: &GatedUpstream, n: usize) {
    wait_until_async(&format!("{n} upstream requests"), DEADLINE, || {
        upstream.hits() >= n
    })
    .await;
}

/// One round of `n` concurrent scrapes that must share one upstream request: sent with the
/// gate closed, released once `n - 1` joined. Returns the body they all got.
async fn shared_round(gw: &Gateway, upstream: &GatedUpstream, n: usize) -> String {
    upstream.hold();
    let hits = upstream.hits();
    let joined = gw.counter("upstream_coalesced", "/").await;
    let pending = gw.send(n, Method::GET, "/metrics", &[]);
    gw.wait_counter("upstream_coalesced", "/", joined + (n - 1) as f64)
        .await;
    upstream.release();
    let replies = replies(pending).await;
    assert_eq!(
        upstream.hits(),
        hits + 1,
        "one upstream request for {n} scrapes"
    );
    let expected = numbered_body(hits + 1);
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, expected, "every waiter gets the whole, same body");
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_twenty_concurrent_scrapes_share_one_upstream_request() {
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::coalescing(&upstream);
    shared_round(&gw, &upstream, 2).await;
    shared_round(&gw, &upstream, 20).await;
    assert_eq!(upstream.hits(), 2);
    let metrics = gw.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "scrapegate_requests_total{code=\"200\",route=\"/\"}"
        ),
        Some(22.0),
        "each waiter is a request of its own"
    );
    assert_eq!(
        metric(
            &metrics,
            "scrapegate_upstream_response_seconds_count{route=\"/\"}"
        ),
        Some(2.0),
        "upstream latency is observed once per upstream request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_the_fetch_finished_starts_a_new_one() {
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::coalescing(&upstream);
    upstream.release();
    let first = Client::plain().get(gw.listen, "/metrics", &[]).await;
    let second = Client::plain().get(gw.listen, "/metrics", &[]).await;
    assert_eq!(first.body, numbered_body(1));
    assert_eq!(second.body, numbered_body(2), "not a cache");
    assert_eq!(upstream.hits(), 2);
    assert_eq!(gw.counter("upstream_coalesced", "/").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_accept_headers_are_separate_upstream_requests() {
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::coalescing(&upstream);
    let mut pending = gw.send(1, Method::GET, "/metrics", &[("accept", "text/plain")]);
    pending.extend(gw.send(
        1,
        Method::GET,
        "/metrics",
        &[("accept", "application/openmetrics-text")],
    ));
    wait_hits(&upstream, 2).await;
    upstream.release();
    let replies = replies(pending).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_ne!(replies[0].body, replies[1].body);
    let accepts: Vec<_> = upstream
        .seen()
        .iter()
        .map(|s| s.headers["accept"].to_str().unwrap().to_owned())
        .collect();
    assert!(accepts.contains(&"text/plain".to_owned()), "{accepts:?}");
    assert_eq!(upstream.hits(), 2);
    assert_eq!(gw.counter("upstream_coalesced", "/").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_and_head_never_share_with_get() {
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::coalescing(&upstream);
    let mut pending = gw.send(2, Method::POST, "/metrics", &[]);
    pending.extend(gw.send(1, Method::HEAD, "/metrics", &[]));
    pending.extend(gw.send(1, Method::GET, "/metrics", &[]));
    wait_hits(&upstream, 4).await;
    upstream.release();
    for r in replies(pending).await {
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(upstream.hits(), 4);
    let methods: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| s.method.to_string())
        .collect();
    assert_eq!(
        methods.iter().filter(|m| *m == "POST").count(),
        2,
        "{methods:?}"
    );
    assert_eq!(gw.counter("upstream_coalesced", "/").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_coalescing_every_scrape_goes_upstream() {
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::start(&[format!("--upstream={}", upstream.url())]);
    let pending = gw.send(5, Method::GET, "/metrics", &[]);
    wait_hits(&upstream, 5).await;
    upstream.release();
    let mut bodies: Vec<String> = replies(pending).await.into_iter().map(|r| r.body).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 5, "each scrape got its own upstream answer");
    assert!(
        !gw.metrics()
            .await
            .contains("scrapegate_upstream_coalesced_total{")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapegate_yml_coalesce_true_turns_it_on_for_that_route_only() {
    let upstream = GatedUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(
        &config,
        format!(
            "routes:\n  - prefix: /shared\n    upstream: {url}/\n    coalesce: true\n  - prefix: /own\n    upstream: {url}/\n",
            url = upstream.url()
        ),
    )
    .unwrap();
    let gw = Gateway::with_config(&config);
    let mut pending = gw.send(3, Method::GET, "/shared/metrics", &[]);
    pending.extend(gw.send(2, Method::GET, "/own/metrics", &[]));
    gw.wait_counter("upstream_coalesced", "/shared", 2.0).await;
    wait_hits(&upstream, 3).await;
    upstream.release();
    for r in replies(pending).await {
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(upstream.hits(), 3, "1 for /shared, 2 for /own");
    assert_eq!(gw.counter("upstream_coalesced", "/own").await, 0.0);
}

/// The file's routes replace the flags' routes: `--upstream.coalesce` says so at start-up
/// instead of silently doing nothing.
#[tokio::test]
async fn the_flag_warns_that_it_has_no_effect_on_the_files_routes() {
    let upstream = GatedUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(
        &config,
        format!(
            "routes:\n  - prefix: /own\n    upstream: {}/\n",
            upstream.url()
        ),
    )
    .unwrap();
    let gw = Gateway::start(&[
        format!("--config.file={}", config.display()),
        "--upstream.coalesce".to_owned(),
    ]);
    let warning = gw.proc.stderr.wait_for(DEADLINE, |l| {
        l.contains("--upstream.coalesce has no effect") && l.contains("level=warn")
    });
    assert!(warning.is_some(), "no warning:\n{}", gw.proc.stderr.all());
    // Without routes in the file the flag applies, and says nothing.
    let quiet = Gateway::coalescing(&upstream);
    let _ = quiet.metrics().await;
    assert!(!quiet.proc.stderr.all().contains("has no effect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_before_the_head_is_502_for_every_waiter() {
    // Reset before the head: the leader's exchange (and its one retry) fails; all 5 waiters
    // get the same 502.
    let upstream = GatedUpstream::start().await;
    let down = free_addr();
    let gw = Gateway::start(&[
        format!("--upstream={}", upstream.url()),
        format!("--route=/down=http://{down}/"),
        "--upstream.coalesce".to_owned(),
    ]);
    let pending = gw.send(5, Method::GET, "/reset", &[]);
    gw.wait_counter("upstream_coalesced", "/", 4.0).await;
    upstream.release();
    for r in replies(pending).await {
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    }
    assert!(upstream.hits() <= 2, "one exchange and at most its retry");
    // Connection refused: whoever shares a fetch shares its 502.
    for r in replies(gw.send(5, Method::GET, "/down/metrics", &[])).await {
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    }
    let metrics = gw.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "scrapegate_requests_total{code=\"502\",route=\"/\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(
            &metrics,
            "scrapegate_requests_total{code=\"502\",route=\"/down\"}"
        ),
        Some(5.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_never_reads_does_not_slow_the_reader_and_is_cut_off() {
    const LEN: u64 = 24 << 20;
    let upstream = GatedUpstream::start().await;
    let gw = Gateway::coalescing(&upstream);
    let path = format!("/big/{LEN}");
    // The stalled client asks first (it leads; which one leads does not matter), then the
    // reader joins.
    let request = format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n");
    let mut stalled = stalled_request(gw.listen, request.as_bytes(), 4096).await;
    wait_hits(&upstream, 1).await;
    let reader = gw.send(1, Method::GET, &path, &[]);
    gw.wait_counter("upstream_coalesced", "/", 1.0).await;
    upstream.release();

    let reply = replies(reader).await.pop().unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len() as u64, LEN);
    assert!(
        reply.body.as_bytes() == big_body(LEN).as_slice(),
        "the reader's body is complete and in order"
    );
    assert_eq!(upstream.hits(), 1);
    assert_eq!(upstream.streamed(), LEN);

    gw.wait_counter("upstream_coalesce_cutoffs", "/", 1.0).await;
    let line = gw
        .proc
        .stderr
        .wait_for(DEADLINE, |l| {
            log_field(l, "level").as_deref() == Some("warn")
                && l.contains("cut off")
                && log_field(l, "route").as_deref() == Some("/")
        })
        .unwrap_or_else(|| panic!("no cut-off log line:\n{}", gw.proc.stderr.all()));
    assert!(
        !line.to_ascii_lowercase().contains("authorization"),
        "{line}"
    );

    // The stalled client finally reads: an aborted answer, well short of the body.
    let answer = read_answer(&mut stalled, DEADLINE).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(
        (answer.len() as u64) < LEN,
        "the follower got {} bytes",
        answer.len()
    );
    assert!(
        !answer.ends_with("0\r\n\r\n"),
        "the chunked body must not end cleanly"
    );
}
