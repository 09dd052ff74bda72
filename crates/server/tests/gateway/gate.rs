//! The Gate pipeline end to end: users (spec §7.3 `TestUsers`), headers (`TestHTTPHeaders`),
//! the rate limiter (§7.2), credential hygiene and upstream failures.

use std::time::{Duration, Instant};

use crate::support::*;
use http::StatusCode;
use scrapegate_config::RateLimit;

fn users_config(tls: bool, p: &Pki) -> scrapegate_config::ValidatedConfig {
    let mut cfg = config(tls.then(|| p.settings()));
    cfg.users = toolkit_users();
    cfg
}

/// `TestUsers`: the seven cases, over plain HTTP and TLS, each on its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_users_all_seven_cases() {
    let up = upstream().await;
    let p = pki();
    let plain = gateway(Some(users_config(false, &p)), &up.url()).await;
    let tls = gateway(Some(users_config(true, &p)), &up.url()).await;
    type Case<'a> = (&'a TestGateway, Client, Option<(&'a str, &'a str)>, bool);
    let cases: [Case; 7] = [
        (&plain, Client::plain(), None, false),
        (&plain, Client::plain(), Some(("dave", "dave123")), true),
        (&tls, p.client(false), None, false),
        (&tls, p.client(false), Some(("dave", "dave123")), true),
        (&tls, p.client(false), Some(("carol", "carol123")), true),
        (&tls, p.client(false), Some(("dave", "bad")), false),
        (
            &tls,
            p.client(false),
            Some(("nonexistent", "nonexistent")),
            false,
        ),
    ];
    for (i, (gw, client, creds, ok)) in cases.into_iter().enumerate() {
        let headers: Vec<(&str, String)> = creds
            .map(|(u, pw)| vec![("authorization", basic(u, pw))])
            .unwrap_or_default();
        let r = client.get(gw.addr, "/metrics", &headers).await;
        if ok {
            assert_eq!(r.status, StatusCode::OK, "case {i}");
            assert_eq!(r.body, "Hello World!", "case {i}");
        } else {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "case {i}");
            assert_eq!(r.body, "Unauthorized\n", "case {i}");
            assert_eq!(r.headers["www-authenticate"], "Basic", "case {i}");
            assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
            assert_eq!(r.headers["x-content-type-options"], "nosniff");
        }
    }
}

fn toolkit_headers() -> Vec<(http::HeaderName, http::HeaderValue)> {
    [
        ("X-Frame-Options", "deny"),
        (
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("X-XSS-Protection", "1"),
        (
            "Content-Security-Policy",
            "default-src 'self' *.test.example.net",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
    .collect()
}

/// `TestHTTPHeaders`: the configured values are on the response, replacing the upstream's.
#[tokio::test]
async fn test_http_headers_replace_upstream_values() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.headers = toolkit_headers();
    let gw = gateway(Some(cfg), &up.url()).await;
    let r = Client::plain().get(gw.addr, "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    // The upstream sent `sameorigin`; the configured `deny` replaces it, once.
    assert_eq!(r.headers.get_all("x-frame-options").iter().count(), 1);
    assert_eq!(r.headers["x-frame-options"], "deny");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-xss-protection"], "1");
    assert_eq!(
        r.headers["content-security-policy"],
        "default-src 'self' *.test.example.net"
    );
}

/// Go sets the headers before auth: a 401 carries them, a 429 does not.
#[tokio::test]
async fn headers_on_401_but_not_on_429() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.headers = toolkit_headers();
    cfg.users = toolkit_users();
    let gw = gateway(Some(cfg.clone()), &up.url()).await;
    let r = Client::plain().get(gw.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["x-xss-protection"], "1");

    cfg.rate_limit = RateLimit {
        interval_nanos: 1_000_000_000,
        burst: 0,
    };
    let gw = gateway(Some(cfg), &up.url()).await;
    let r = Client::plain().get(gw.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("x-xss-protection").is_none());
    assert!(r.headers.get("retry-after").is_none());
}

/// §7.2 `web_config_rate_limiter_nonblocking.yaml`: interval 0, burst 0 → 11 requests all 200.
#[tokio::test]
async fn rate_limiter_nonblocking_lets_eleven_requests_through() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.rate_limit = RateLimit {
        interval_nanos: 0,
        burst: 0,
    };
    let gw = gateway(Some(cfg), &up.url()).await;
    for i in 0..11 {
        let r = Client::plain().get(gw.addr, "/", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        assert_eq!(r.body, "Hello World!");
    }
}

/// §7.2 `web_config_rate_limiter_one_second.yaml`: interval 1s, burst 0 → the first request
/// already gets 429 `Too Many Requests`.
#[tokio::test]
async fn rate_limiter_one_second_burst_zero_rejects_the_first_request() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.rate_limit = RateLimit {
        interval_nanos: 1_000_000_000,
        burst: 0,
    };
    let gw = gateway(Some(cfg), &up.url()).await;
    let r = Client::plain().get(gw.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body, "Too Many Requests\n");
    assert!(up.seen().is_empty());
}

/// Unauthenticated requests use tokens too (counted before auth).
#[tokio::test]
async fn rate_limit_counts_requests_before_auth() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.users = toolkit_users();
    cfg.rate_limit = RateLimit {
        interval_nanos: 3_600_000_000_000,
        burst: 2,
    };
    let gw = gateway(Some(cfg), &up.url()).await;
    let c = Client::plain();
    assert_eq!(
        c.get(gw.addr, "/", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get(gw.addr, "/", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let good = [("authorization", basic("dave", "dave123"))];
    assert_eq!(
        c.get(gw.addr, "/", &good).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The credentials are for the gateway: the upstream never sees them, and it learns who
/// asked through `X-Forwarded-*`.
#[tokio::test]
async fn authorization_never_reaches_the_upstream() {
    let up = upstream().await;
    let mut cfg = config(None);
    cfg.users = toolkit_users();
    let gw = gateway(Some(cfg), &up.url()).await;
    let r = Client::plain()
        .get(
            gw.addr,
            "/metrics?x=1",
            &[
                ("authorization", basic("dave", "dave123")),
                ("proxy-authorization", basic("dave", "dave123")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(seen[0].path, "/metrics?x=1");
    assert!(h.get("authorization").is_none());
    assert!(h.get("proxy-authorization").is_none());
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["x-forwarded-host"],
        format!("localhost:{}", gw.addr.port())
    );
    assert_eq!(h["host"], up.addr.to_string());
}

/// Nothing listens on the upstream port: 502 with a plain-text reason.
#[tokio::test]
async fn upstream_down_gives_502() {
    // Bind then drop, so the port is (very likely) closed.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let gw = gateway(Some(config(None)), &url).await;
    let r = Client::plain().get(gw.addr, "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.body.starts_with("Bad Gateway"), "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
}

/// Prometheus's scrape timeout is the deadline: a 3 s upstream with a 0.5 s scrape timeout
/// gives 504 long before the upstream would have answered.
#[tokio::test]
async fn slow_upstream_with_scrape_timeout_gives_504_in_time() {
    let up = upstream().await;
    let gw = gateway(Some(config(None)), &up.url()).await;
    let started = Instant::now();
    let r = Client::plain()
        .get(
            gw.addr,
            "/slow",
            &[("x-prometheus-scrape-timeout-seconds", "0.5".into())],
        )
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(r.body.starts_with("Gateway Timeout"), "{}", r.body);
    // Correctness bound, not a performance figure: the 3 s upstream must not have been awaited.
    assert!(started.elapsed() < Duration::from_millis(2500));
}

/// Paths without a route get Go's 404.
#[tokio::test]
async fn unrouted_path_gets_404() {
    let up = upstream().await;
    let routes = scrapegate_server::Routes::new(None, &[format!("/node={}/", up.url())]).unwrap();
    let (gw, _) = scrapegate_server::Gateway::new(None, routes, Default::default()).unwrap();
    let l = scrapegate_server::listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gw.serve_proxy(l);
    let r = Client::plain().get(addr, "/other", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "404 page not found\n");
    let r = Client::plain().get(addr, "/node/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-upstream-path"], "/metrics");
}

/// An upstream that answers the first request on each connection with keep-alive, then
/// closes the connection when the second request arrives, without answering it.
async fn one_shot_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let conns2 = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            conns2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                let mut answered = false;
                loop {
                    let n = match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&buf[..n]);
                    if !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        continue;
                    }
                    if answered {
                        return; // second request: hang up without a response
                    }
                    answered = true;
                    seen.clear();
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nHello World!")
                        .await;
                }
            });
        }
    });
    (addr, conns)
}

/// A pooled upstream connection that turns out closed is retried once for GET.
#[tokio::test]
async fn get_is_retried_once_when_a_pooled_connection_turns_out_closed() {
    let (addr, conns) = one_shot_upstream().await;
    let gw = gateway(Some(config(None)), &format!("http://{addr}")).await;
    let c = Client::plain();
    for i in 0..3 {
        let r = c.get(gw.addr, "/metrics", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        assert_eq!(r.body, "Hello World!");
    }
    assert!(conns.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert!(gw.gateway.metrics().upstream_retries.get() >= 1);
}

/// The deadline also bounds the streamed body: an upstream that stalls mid-body cannot hold
/// the client past the scrape timeout.
#[tokio::test]
async fn stalled_upstream_body_is_cut_at_the_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                    .await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let gw = gateway(Some(config(None)), &format!("http://{addr}")).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Prometheus-Scrape-Timeout-Seconds: 0.5\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await;
    assert!(ended.is_ok(), "client held past the deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // The client got the head and the partial body, then the connection was closed.
    assert!(text.ends_with("partial"), "{text}");
}

/// A saturated bcrypt pool answers 503 with `Retry-After` instead of queueing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_bcrypt_pool_gives_503_with_retry_after() {
    let up = upstream().await;
    let mut cfg = config(None);
    // Cost 12 (~0.2 s per check) so concurrent misses overlap on any machine.
    let slow = bcrypt::hash_with_result("right", 12)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    cfg.users = users(&[("u", &slow)]);
    let opts = scrapegate_server::ServerOptions {
        auth: scrapegate_auth::AuthSettings {
            pool_threads: 1,
            queue_capacity: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    let gw = gateway_with(Some(cfg), &up.url(), opts).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let addr = gw.addr;
        tasks.push(tokio::spawn(async move {
            Client::plain()
                .get(
                    addr,
                    "/",
                    &[("authorization", basic("u", format!("wrong{i}")))],
                )
                .await
        }));
    }
    let mut busy = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(r.body, "Service Unavailable\n");
                assert!(r.headers.contains_key("retry-after"));
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert!(busy >= 1, "no request was refused with 503");
}
