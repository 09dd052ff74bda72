//! Issue 15 against the real binary: the new flags (`--upstream.timeout-offset`,
//! `--web.trusted-proxies`, `--web.max-request-body-bytes`) are checked at start-up and wired
//! through, and clients that stop reading a long response cost bounded memory (#11).
//!
//! `SCRAPEGATE_BIN=/path/to/scrapegate` runs these against another build (e.g. an older
//! release binary, to see the tests fail on it).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use scrapegate_testkit::body_upstream::BodyUpstream;
use scrapegate_testkit::process::{STARTUP, run};
use scrapegate_testkit::raw_http::{self, status_line};
use scrapegate_testkit::{Proc, spawn, tcp_from};
use tokio::io::AsyncWriteExt;

fn binary() -> String {
    std::env::var("SCRAPEGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_scrapegate").into())
}

/// The gateway in plain HTTP (no web.yml) in front of `up`, with `flags`.
fn gateway(up: &BodyUpstream, flags: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec![
        "--web.listen-address=127.0.0.1:0".to_string(),
        format!("--upstream={}", up.url()),
    ];
    args.extend(flags.iter().map(|f| (*f).to_string()));
    let proc = spawn(binary(), &args);
    let addr = proc.listening_on();
    (proc, addr)
}

/// Every new flag refuses a bad value at start-up, naming the flag and the value.
#[test]
fn bad_hardening_flag_values_stop_startup() {
    for (flag, value) in [
        ("--web.trusted-proxies", "10.0.0.1/8"),
        ("--web.trusted-proxies", "10.0.0.0/33"),
        ("--web.trusted-proxies", "10.0.0.0/8,proxy.example"),
        ("--upstream.timeout-offset", "-1s"),
        ("--upstream.timeout-offset", "500"),
        ("--upstream.timeout-offset", "10000000000000000000s"),
        ("--web.max-request-body-bytes", "0"),
        ("--web.max-request-body-bytes", "32MiB"),
    ] {
        let out = run(
            Command::new(binary()).args([
                format!("{flag}={value}"),
                "--upstream=http://127.0.0.1:9".into(),
                "--web.listen-address=127.0.0.1:0".into(),
            ]),
            b"",
            STARTUP,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag}={value} started");
        assert!(
            !err.contains("unexpected argument"),
            "{flag} unknown: {err}"
        );
        assert!(
            err.contains(flag) && err.contains(value.split(',').next_back().unwrap()),
            "{flag}={value}: {err}"
        );
    }
}

/// The flags reach the gateway: the offset reduces the forwarded scrape timeout and the
/// deadline, a trusted proxy's chain is appended to, the body limit answers 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_flags_are_wired() {
    let up = BodyUpstream::start_with(Duration::from_secs(10)).await;
    let (_proc, addr) = gateway(
        &up,
        &[
            "--upstream.timeout-offset=2s",
            "--web.trusted-proxies=10.0.0.0/8,127.0.0.2",
            "--web.max-request-body-bytes=1000",
        ],
    );
    let get = |extra: &str| {
        format!("GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{extra}\r\n").into_bytes()
    };
    for (from, want) in [
        ("127.0.0.2", "6.6.6.6, 127.0.0.2"),
        ("127.0.0.3", "127.0.0.3"),
    ] {
        let tcp = tcp_from(Some(from.parse::<Ipv4Addr>().unwrap()), addr)
            .await
            .unwrap();
        let answer = raw_http::send(
            tcp,
            &get("X-Forwarded-For: 6.6.6.6\r\nX-Prometheus-Scrape-Timeout-Seconds: 12\r\n"),
        )
        .await;
        assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
        let seen = up.recorded().pop().unwrap();
        assert_eq!(seen.headers["x-forwarded-for"], want, "from {from}");
        assert_eq!(seen.headers["x-prometheus-scrape-timeout-seconds"], "10");
    }
    let hits = up.hits();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = raw_http::send(
        tcp,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n",
    )
    .await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(up.hits(), hits);

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let answer = raw_http::send(
        tcp,
        b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Prometheus-Scrape-Timeout-Seconds: 3\r\n\r\n",
    )
    .await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 504"), "{answer}");
    assert_eq!(
        raw_http::body(&answer),
        "Gateway Timeout: upstream for route / did not answer within 1s\n"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Clients that request a long response and never read it: the gateway holds a bounded
/// amount for each (hyper's write queue and one upstream read), and the upstream is held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_hold_bounded_memory() {
    const CLIENTS: usize = 64;
    /// What one stalled reader may cost: the buffers' bound (≤ 128 KiB) plus the
    /// connection's own state and allocator slack. Before the fix it was ~700 KiB.
    const PER_CLIENT_KIB: u64 = 256;
    let up = BodyUpstream::start().await;
    let (proc, addr) = gateway(&up, &["--upstream.timeout=5m"]);
    // Warm up (runtime threads, the upstream pool), then the baseline.
    let answer = raw_http::send(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        b"GET /stream/1000000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        status_line(&answer)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = proc.rss_kib();
    let streamed_before = up.streamed();

    let mut stalled = Vec::new();
    for _ in 0..CLIENTS {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        // A small receive window: the client's kernel takes little before the gateway has to
        // hold the rest (or stop reading the upstream).
        sock.set_recv_buffer_size(16 * 1024).unwrap();
        let mut tcp = sock.connect(addr).await.unwrap();
        tcp.write_all(b"GET /stream/67108864 HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        stalled.push(tcp);
    }
    // Until the upstream cannot push any more (everything in between is full).
    let mut last = up.streamed();
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while still_since.elapsed() < Duration::from_secs(2) {
        assert!(
            Instant::now() < deadline,
            "the upstream never stopped streaming"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = up.streamed();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let loaded = proc.rss_kib();
    let growth = loaded.saturating_sub(base);
    let pulled = (up.streamed() - streamed_before) / CLIENTS as u64 / 1024;
    eprintln!(
        "{CLIENTS} stalled readers: RSS {base} -> {loaded} KiB, +{growth} KiB \
         ({} KiB each); the upstream pushed {pulled} KiB each (kernel buffers included)",
        growth / CLIENTS as u64
    );
    assert!(
        growth <= PER_CLIENT_KIB * CLIENTS as u64,
        "{CLIENTS} stalled readers grew RSS by {growth} KiB (> {PER_CLIENT_KIB} KiB each)"
    );
    drop(stalled);
}
