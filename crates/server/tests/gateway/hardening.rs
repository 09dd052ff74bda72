//! Issue 15, hostile clients against the gateway in process: the scrape-timeout budget (#4),
//! client-supplied forwarding headers (#9), methods and request bodies (#10). Framing a hyper
//! client will not send is written by hand (`scrapegate_testkit::raw_http`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::support::*;
use http::StatusCode;
use scrapegate_server::{ServerOptions, UpstreamOptions};
use scrapegate_testkit::body_upstream::BodyUpstream;
use scrapegate_testkit::raw_http::{self, status_line};
use scrapegate_testkit::{metric, tcp_from};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SCRAPE_TIMEOUT: &str = "x-prometheus-scrape-timeout-seconds";

fn with_upstream(upstream: UpstreamOptions) -> ServerOptions {
    ServerOptions {
        upstream,
        ..ServerOptions::default()
    }
}

/// A gateway (plain HTTP, no auth) in front of a [`BodyUpstream`], with `--upstream.timeout`
/// = `timeout` and the other upstream options as given.
async fn gateway_for(up: &BodyUpstream, upstream: UpstreamOptions) -> TestGateway {
    gateway_with(Some(config(None)), &up.url(), with_upstream(upstream)).await
}

fn timeout(t: Duration) -> UpstreamOptions {
    UpstreamOptions {
        timeout: t,
        ..UpstreamOptions::default()
    }
}

/// GET `path` with the scrape-timeout header (when given); the reply and how long it took.
async fn scrape(gw: &TestGateway, path: &str, header: Option<&str>) -> (Reply, Duration) {
    let headers: Vec<(&str, String)> = header
        .map(|h| vec![(SCRAPE_TIMEOUT, h.to_owned())])
        .unwrap_or_default();
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        Client::plain().get(gw.addr, path, &headers),
    )
    .await
    .unwrap_or_else(|_| panic!("GET {path} with {header:?}: no answer within 15 s"));
    (r, started.elapsed())
}

type Reply = scrapegate_testkit::http_client::Reply;

/// The scrape-timeout header value the upstream saw on its last request.
fn forwarded_budget(up: &BodyUpstream) -> Option<String> {
    up.recorded()
        .last()
        .expect("a request reached the upstream")
        .headers
        .get(SCRAPE_TIMEOUT)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn assert_504_within(r: &Reply, took: Duration, budget: &str, most: Duration) {
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.body);
    assert_eq!(
        r.body,
        format!("Gateway Timeout: upstream for route / did not answer within {budget}\n")
    );
    assert!(took < most, "the 504 took {took:?}, budget {budget}");
}

// ---- #4: the scrape-timeout budget ----------------------------------------------------------

/// No header: `--upstream.timeout` is the deadline, and no header is invented upstream.
#[tokio::test]
async fn scrape_timeout_absent_uses_the_upstream_timeout() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(1))).await;
    let (r, took) = scrape(&gw, "/slow", None).await;
    assert_504_within(&r, took, "1s", Duration::from_secs(5));
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let (r, _) = scrape(&gw, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(forwarded_budget(&up), None);
}

/// A header larger than `--upstream.timeout` does not extend it; the upstream is told the
/// real budget.
#[tokio::test]
async fn scrape_timeout_larger_than_the_flag_is_capped() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(1))).await;
    let (r, took) = scrape(&gw, "/slow", Some("86400")).await;
    assert_504_within(&r, took, "1s", Duration::from_secs(5));
    let (r, _) = scrape(&gw, "/metrics", Some("86400")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(forwarded_budget(&up).as_deref(), Some("1"));
}

/// A header smaller than the flag sets the deadline, less `--upstream.timeout-offset`, and
/// the reduced value goes upstream.
#[tokio::test]
async fn scrape_timeout_smaller_is_reduced_by_the_offset() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(30))).await;
    let (r, took) = scrape(&gw, "/slow", Some("1.5")).await;
    assert_504_within(&r, took, "1s", Duration::from_secs(5));
    let (r, _) = scrape(&gw, "/metrics", Some("10")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(forwarded_budget(&up).as_deref(), Some("9.5"));
    // Another offset.
    let gw = gateway_for(
        &up,
        UpstreamOptions {
            timeout_offset: Duration::from_millis(250),
            ..timeout(Duration::from_secs(30))
        },
    )
    .await;
    let (r, _) = scrape(&gw, "/metrics", Some("10")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(forwarded_budget(&up).as_deref(), Some("9.75"));
}

/// A header below the offset leaves a tiny positive budget: never zero or negative.
#[tokio::test]
async fn scrape_timeout_below_the_offset_gets_a_tiny_budget() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(30))).await;
    for header in ["0.2", "0.5"] {
        let (r, took) = scrape(&gw, "/slow", Some(header)).await;
        assert_504_within(&r, took, "1ms", Duration::from_secs(3));
    }
}

/// Garbage and negative values are ignored (`--upstream.timeout` applies) and replaced
/// upstream by the real budget.
#[tokio::test]
async fn scrape_timeout_garbage_or_negative_uses_the_upstream_timeout() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(1))).await;
    for junk in ["abc", "-1", "-0.5", "NaN", "inf", "1e400", "0", ""] {
        let (r, took) = scrape(&gw, "/slow", Some(junk)).await;
        assert_504_within(&r, took, "1s", Duration::from_secs(5));
        let (r, _) = scrape(&gw, "/metrics", Some(junk)).await;
        assert_eq!(r.status, StatusCode::OK, "{junk:?}");
        assert_eq!(forwarded_budget(&up).as_deref(), Some("1"), "{junk:?}");
    }
}

/// The budget also bounds an upload that stalls: a huge header does not keep it open.
#[tokio::test]
async fn slow_upload_is_bounded_by_the_budget() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(&up, timeout(Duration::from_secs(1))).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\
          X-Prometheus-Scrape-Timeout-Seconds: 86400\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let answer = raw_http::read_answer(&mut tcp, Duration::from_secs(8)).await;
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 504"),
        "after {:?}: {answer:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---- #9: forwarding headers -----------------------------------------------------------------

/// A client's `Forwarded`, `X-Real-IP`, `X-Forwarded-Host` and `X-Forwarded-For` never reach
/// the exporter: `X-Forwarded-For` is the client's address alone.
#[tokio::test]
async fn client_forwarding_headers_are_replaced() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(&up, UpstreamOptions::default()).await;
    let r = Client::plain()
        .get(
            gw.addr,
            "/metrics",
            &[
                ("forwarded", "for=6.6.6.6;host=evil.example".into()),
                ("x-real-ip", "6.6.6.6".into()),
                ("x-forwarded-host", "evil.example".into()),
                ("x-forwarded-for", "6.6.6.6".into()),
                ("x-forwarded-for", "7.7.7.7".into()),
                ("x-forwarded-proto", "gopher".into()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = up.recorded().pop().unwrap();
    let h = &seen.headers;
    assert!(h.get("forwarded").is_none(), "{h:?}");
    assert!(h.get("x-real-ip").is_none(), "{h:?}");
    let all = |name: &str| -> Vec<&str> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    };
    assert_eq!(all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(
        all("x-forwarded-host"),
        [format!("localhost:{}", gw.addr.port())]
    );
    assert_eq!(all("x-forwarded-proto"), ["http"]);
}

/// A peer in `--web.trusted-proxies` has its `X-Forwarded-For` kept and appended to (as
/// nginx's realip does); any other peer's is replaced. `Forwarded` and `X-Real-IP` go either
/// way.
#[tokio::test]
async fn trusted_proxies_have_their_chain_appended() {
    let up = BodyUpstream::start().await;
    let trusted = vec![UpstreamOptions::parse_cidr("127.0.0.2/32").unwrap()];
    let gw = gateway_for(
        &up,
        UpstreamOptions {
            trusted_proxies: trusted,
            ..UpstreamOptions::default()
        },
    )
    .await;
    let request = b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
                    X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.1.2.3\r\n\
                    X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n";
    for (from, want) in [
        ("127.0.0.2", "6.6.6.6, 10.1.2.3, 127.0.0.2"),
        ("127.0.0.3", "127.0.0.3"),
    ] {
        let ip: Ipv4Addr = from.parse().unwrap();
        let tcp = tcp_from(Some(ip), gw.addr).await.unwrap();
        let answer = raw_http::send(tcp, request).await;
        assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
        let seen = up.recorded().pop().unwrap();
        let xff: Vec<_> = seen.headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, [want], "from {from}");
        assert!(seen.headers.get("x-real-ip").is_none());
        assert!(seen.headers.get("forwarded").is_none());
    }
}

#[test]
fn trusted_proxy_cidrs_are_checked() {
    for good in [
        "10.0.0.0/8",
        "192.168.1.7",
        "::1/128",
        "fd00::/8",
        "0.0.0.0/0",
    ] {
        assert!(UpstreamOptions::parse_cidr(good).is_ok(), "{good}");
    }
    for bad in [
        "10.0.0.0/33",
        "10.0.0.1/8",
        "::1/129",
        "10.0.0/8",
        "abc",
        "",
        "10.0.0.0/",
    ] {
        assert!(UpstreamOptions::parse_cidr(bad).is_err(), "{bad}");
    }
}

// ---- #10: methods and bodies ----------------------------------------------------------------

async fn raw(gw: &TestGateway, request: &[u8]) -> String {
    raw_http::send(TcpStream::connect(gw.addr).await.unwrap(), request).await
}

fn client_errors(gw: &TestGateway, reason: &str) -> f64 {
    metric(
        &gw.gateway.render_metrics(),
        &format!("scrapegate_client_errors_total{{reason=\"{reason}\"}}"),
    )
    .unwrap_or(0.0)
}

fn upstream_errors(gw: &TestGateway) -> f64 {
    ["unreachable", "timeout"]
        .iter()
        .filter_map(|k| {
            metric(
                &gw.gateway.render_metrics(),
                &format!("scrapegate_upstream_errors_total{{kind=\"{k}\"}}"),
            )
        })
        .sum()
}

/// `CONNECT` and `TRACE` are answered 405 at the gate, never forwarded, and counted.
#[tokio::test]
async fn connect_and_trace_get_405_before_forwarding() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(&up, UpstreamOptions::default()).await;
    for request in [
        &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"[..],
        b"TRACE /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw(&gw, request).await;
        assert!(
            status_line(&answer).starts_with("HTTP/1.1 405"),
            "{}: {answer}",
            String::from_utf8_lossy(request)
        );
        assert!(
            answer.to_ascii_lowercase().contains("\r\nallow: "),
            "{answer}"
        );
    }
    // Other methods still pass.
    let answer = raw(
        &gw,
        b"OPTIONS /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.hits(), 1);
    assert_eq!(client_errors(&gw, "method"), 2.0);
    let text = gw.gateway.render_metrics();
    assert_eq!(
        metric(&text, "scrapegate_requests_total{code=\"405\",route=\"/\"}").or_else(|| metric(
            &text,
            "scrapegate_requests_total{code=\"405\",route=\"none\"}"
        )),
        Some(1.0)
    );
}

/// A malformed chunked body is the client's fault: 400, counted as a client error, not as
/// an upstream one.
#[tokio::test]
async fn malformed_chunked_body_gets_400_not_502() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(&up, UpstreamOptions::default()).await;
    let answer = raw(
        &gw,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\nzz\r\nnot a chunk\r\n\r\n",
    )
    .await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(client_errors(&gw, "bad_body"), 1.0);
    assert_eq!(upstream_errors(&gw), 0.0);
    // The gateway keeps serving.
    let r = Client::plain().get(gw.addr, "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A GET body is forwarded, chunked or with a length, not dropped.
#[tokio::test]
async fn get_body_is_forwarded() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(&up, UpstreamOptions::default()).await;
    for request in [
        &b"GET /q HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
           5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"[..],
        b"GET /q HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world",
    ] {
        let answer = raw(&gw, request).await;
        assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
        let seen = up.recorded().pop().unwrap();
        assert_eq!(seen.method, http::Method::GET);
        assert_eq!(String::from_utf8_lossy(&seen.body), "hello world");
        assert_eq!(seen.body_error, None);
    }
}

/// `--web.max-request-body-bytes`: a declared length over the limit gets 413 without the
/// upstream being contacted; a streamed body is cut when it crosses the limit; a body at the
/// limit passes whole.
#[tokio::test]
async fn request_body_over_the_limit_gets_413() {
    let up = BodyUpstream::start().await;
    let gw = gateway_for(
        &up,
        UpstreamOptions {
            max_request_body_bytes: 1024,
            ..UpstreamOptions::default()
        },
    )
    .await;
    let declared = raw(
        &gw,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n",
    )
    .await;
    assert!(
        status_line(&declared).starts_with("HTTP/1.1 413"),
        "{declared}"
    );
    assert_eq!(
        up.hits(),
        0,
        "the upstream was contacted for a declared oversized body"
    );

    let chunk = format!("200\r\n{}\r\n", "a".repeat(512));
    let streamed = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(4)
    );
    let answer = raw(&gw, streamed.as_bytes()).await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 413"), "{answer}");
    if let Some(seen) = up.recorded().pop() {
        assert!(
            seen.body.len() <= 1024,
            "{} bytes reached the upstream",
            seen.body.len()
        );
    }
    assert_eq!(client_errors(&gw, "body_too_large"), 2.0);
    assert_eq!(upstream_errors(&gw), 0.0);

    let exact = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(2)
    );
    let answer = raw(&gw, exact.as_bytes()).await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.recorded().pop().unwrap().body.len(), 1024);
}
