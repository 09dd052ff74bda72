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
        // Values that used to crash or misbehave at the first request (item 7).
        ("--upstream.timeout", "10000000000000000000s"),
        ("--upstream.timeout", "7"),
        ("--web.idle-timeout", "9000h"),
        ("--web.max-header-bytes", "99999999999"),
        ("--web.max-connections", "0"),
        ("--web.max-connections-per-source", "-1"),
        ("--web.unauthenticated-idle-timeout", "1d"),
        ("--upstream.max-idle-conns", "4294967296"),
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
        assert_eq!(out.status.code(), Some(1), "{flag}={value}: {err}");
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

/// True when the server closes `tcp` (EOF or reset) within 5 s.
async fn is_closed(tcp: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 1];
    let read = tokio::io::AsyncReadExt::read(tcp, &mut buf);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), read).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Item 2: the gateway's listener full of idle, unauthenticated connections. The health
/// listener has its own budget, so the probe (`scrapegate healthcheck`) still passes; the idle
/// connections are closed after the short unauthenticated idle timeout, and a good client gets
/// in then; a refused request's HTTP/1 connection is closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_starves_neither_the_probe_nor_good_clients_for_long() {
    const SLOTS: usize = 8;
    let up = BodyUpstream::start().await;
    let hash = scrapegate_testkit::hash("pw");
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let health = scrapegate_testkit::free_addr();
    let (_gw, addr) = gateway(
        &up,
        &[
            &format!("--web.config.file={}", web.display()),
            &format!("--web.health-address={health}"),
            &format!("--web.max-connections={SLOTS}"),
            "--web.unauthenticated-idle-timeout=1s",
        ],
    );
    // Fill the listener with connections that never send a request.
    let mut idle = Vec::new();
    for _ in 0..SLOTS {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // One more is refused at once...
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        is_closed(&mut extra).await,
        "the listener took more than its budget"
    );
    // ...while the probe, on its own listener, still passes.
    let probe = run(
        Command::new(binary()).args([
            "healthcheck".to_string(),
            format!("--url=http://{health}/-/ready"),
        ]),
        b"",
        STARTUP,
    );
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // The unauthenticated idle connections are closed after about a second, not 5 minutes.
    let started = Instant::now();
    for tcp in &mut idle {
        assert!(
            is_closed(tcp).await,
            "an unauthenticated idle connection stayed open"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A good client gets in now, and a refused one's connection is closed with its 401.
    let get = |password: &str, close: bool| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: {}\r\n{}\r\n",
            scrapegate_testkit::basic("alice", password),
            if close { "Connection: close\r\n" } else { "" }
        )
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let good = raw_http::send(tcp, get("pw", true).as_bytes()).await;
    assert_eq!(status_line(&good), "HTTP/1.1 200 OK", "{good}");
    // No `Connection: close` from the client: the gateway closes after its 401 by itself
    // (`send` reads until the connection closes, bounded by the test kit's deadline).
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let refused = raw_http::send(tcp, get("no", false).as_bytes()).await;
    assert_eq!(
        status_line(&refused),
        "HTTP/1.1 401 Unauthorized",
        "{refused}"
    );
    assert!(
        refused.to_ascii_lowercase().contains("connection: close"),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 401 connection stayed open"
    );
}
