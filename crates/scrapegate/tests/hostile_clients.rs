//! Hostile clients against the real binary (TLS + basic auth, short timeouts set by flags):
//! 1,000 slowloris connections and 1,000 stalled TLS handshakes neither starve a good client
//! nor outlive their timeouts; the connection limit refuses cleanly; oversized heads get 431;
//! malformed requests get 400 and the process keeps serving.

mod hostile_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hostile_support::*;
use scrapegate_testkit::process::raise_nofile;
use scrapegate_testkit::{TestUpstream, eventually, metric, tcp_from};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

const HOSTILE: usize = 1000;

/// Opens at most this many hostile connections at once (the listen backlog is 1,024).
const OPEN_PARALLEL: usize = 64;

/// What happened to the hostile connections so far.
#[derive(Default)]
struct Tally {
    open: AtomicUsize,
    closed: AtomicUsize,
    /// Bytes the server sent on a hostile connection before closing it (should stay 0).
    answered: AtomicUsize,
    /// Shortest lifetime (ms) of a closed connection.
    min_life_ms: AtomicUsize,
    failed_to_open: AtomicUsize,
}

impl Tally {
    /// Waits (bounded) until all `HOSTILE` connections are closed, and checks that none was
    /// closed before `timeout` (less half a second of timer slack). Returns the shortest life.
    async fn assert_all_cut_at(&self, timeout: Duration, what: &str) -> Duration {
        let ok = eventually(timeout + Duration::from_secs(20), || async {
            self.closed.load(Ordering::SeqCst) == HOSTILE
        })
        .await;
        assert!(
            ok,
            "only {} of {HOSTILE} ({what}) closed",
            self.closed.load(Ordering::SeqCst)
        );
        let min_life = Duration::from_millis(self.min_life_ms.load(Ordering::SeqCst) as u64);
        assert!(
            min_life >= timeout - Duration::from_millis(500),
            "a {what} was closed after only {min_life:?}"
        );
        min_life
    }
}

impl Tally {
    fn new() -> Arc<Self> {
        let t = Self::default();
        t.min_life_ms.store(usize::MAX, Ordering::SeqCst);
        Arc::new(t)
    }

    fn closed_after(&self, opened: Instant, bytes: usize) {
        let ms = opened.elapsed().as_millis() as usize;
        self.min_life_ms.fetch_min(ms, Ordering::SeqCst);
        self.answered.fetch_add(bytes, Ordering::SeqCst);
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Good requests while the hostile connections are open: fresh connections (so the accept
/// path and the handshake are exercised too) and a kept-alive one. Each is bounded by a
/// deadline; all must succeed.
async fn good_client_is_served(gw: &Gw, rounds: usize) {
    let mut kept = tokio::time::timeout(Duration::from_secs(10), gw.client(None))
        .await
        .expect("good client: connect timed out")
        .expect("good client: connect");
    for i in 0..rounds {
        let fresh = async {
            let mut c = gw.client(None).await.expect("good client: connect");
            c.get("/metrics", Some(&gw.auth))
                .await
                .expect("good request")
        };
        let got = tokio::time::timeout(Duration::from_secs(10), fresh)
            .await
            .unwrap_or_else(|_| panic!("good request {i} on a new connection timed out"));
        assert_eq!(got, (200, "demo_metric 1\n".to_string()), "request {i}");
        let got = tokio::time::timeout(
            Duration::from_secs(10),
            kept.get("/metrics", Some(&gw.auth)),
        )
        .await
        .unwrap_or_else(|_| panic!("good request {i} on the kept connection timed out"))
        .expect("good request (keep-alive)");
        assert_eq!(
            got,
            (200, "demo_metric 1\n".to_string()),
            "keep-alive request {i}"
        );
    }
}

/// Waits (bounded) until `want` hostile connections are open.
async fn all_open(t: &Tally, want: usize, deadline: Duration) {
    let ok = eventually(deadline, || async {
        t.open.load(Ordering::SeqCst) + t.failed_to_open.load(Ordering::SeqCst) >= want
    })
    .await;
    assert!(
        ok,
        "only {} of {want} hostile connections opened",
        t.open.load(Ordering::SeqCst)
    );
    assert_eq!(
        t.failed_to_open.load(Ordering::SeqCst),
        0,
        "some hostile connections failed to open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_1000_trickling_clients_leave_a_good_client_served_and_hit_the_header_timeout() {
    raise_nofile(8192);
    let up = TestUpstream::demo().await;
    // The header deadline runs from the end of the handshake; 10 s leaves time to open all
    // 1,000 connections (about 1-2 s here) and serve the good client before the first expires.
    let header_timeout = Duration::from_secs(10);
    let gw = start(
        &up,
        GwOpts {
            flags: vec![
                "--web.header-read-timeout=10s".into(),
                "--web.handshake-timeout=10s".into(),
            ],
            ..GwOpts::default()
        },
    );
    let tally = Tally::new();
    let gate = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let gw = Arc::new(gw);
    for _ in 0..HOSTILE {
        let (gw, tally, gate) = (Arc::clone(&gw), Arc::clone(&tally), Arc::clone(&gate));
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let Ok(mut io) = gw.connect_to(gw.addr, None).await else {
                tally.failed_to_open.fetch_add(1, Ordering::SeqCst);
                return;
            };
            drop(permit);
            let opened = Instant::now();
            tally.open.fetch_add(1, Ordering::SeqCst);
            // A request head that never ends: one byte every 500 ms.
            let head = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
            if io.write_all(head).await.is_err() {
                return tally.closed_after(opened, 0);
            }
            let _ = io.flush().await;
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut buf = [0u8; 1024];
            loop {
                tokio::select! {
                    r = io.read(&mut buf) => {
                        let n = r.unwrap_or(0);
                        return tally.closed_after(opened, n);
                    }
                    _ = tick.tick() => {
                        if io.write_all(b"a").await.is_err() || io.flush().await.is_err() {
                            return tally.closed_after(opened, 0);
                        }
                    }
                }
            }
        });
    }
    all_open(&tally, HOSTILE, Duration::from_secs(30)).await;
    let opened_all = Instant::now();

    good_client_is_served(&gw, 10).await;
    let m = gw.metrics().await;
    let open_now = metric(&m, "scrapegate_connections_open").unwrap();
    assert!(
        open_now >= HOSTILE as f64,
        "connections_open {open_now}:\n{m}"
    );
    assert_eq!(
        tally.closed.load(Ordering::SeqCst),
        0,
        "a slowloris connection closed before the good client was done (after {:?})",
        opened_all.elapsed()
    );

    // Every trickler is cut by the header timeout, not before it, and gets no response.
    let min_life = tally
        .assert_all_cut_at(header_timeout, "slowloris connection")
        .await;
    assert_eq!(
        tally.answered.load(Ordering::SeqCst),
        0,
        "slowloris clients got bytes back"
    );
    let mut gw = sole(gw).await;
    assert!(gw.proc.alive());
    good_client_is_served(&gw, 2).await;
    eprintln!(
        "slowloris: {HOSTILE} connections open while 20 good requests succeeded; \
         all cut by the {header_timeout:?} header timeout (shortest life {min_life:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_1000_leave_a_good_client_served_and_hit_the_handshake_timeout() {
    raise_nofile(8192);
    let up = TestUpstream::demo().await;
    let handshake_timeout = Duration::from_secs(6);
    let gw = Arc::new(start(
        &up,
        GwOpts {
            flags: vec!["--web.handshake-timeout=6s".into()],
            ..GwOpts::default()
        },
    ));
    let tally = Tally::new();
    let gate = Arc::new(Semaphore::new(OPEN_PARALLEL));
    for i in 0..HOSTILE {
        let (gw, tally, gate) = (Arc::clone(&gw), Arc::clone(&tally), Arc::clone(&gate));
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let Ok(mut tcp) = tcp_from(None, gw.addr).await else {
                tally.failed_to_open.fetch_add(1, Ordering::SeqCst);
                return;
            };
            drop(permit);
            let opened = Instant::now();
            // Half send nothing; half send the start of a ClientHello record that announces
            // 512 bytes and never delivers them.
            if i % 2 == 1 {
                let partial = [
                    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
                ];
                if tcp.write_all(&partial).await.is_err() {
                    tally.failed_to_open.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            tally.open.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            tally.closed_after(opened, n);
        });
    }
    all_open(&tally, HOSTILE, Duration::from_secs(30)).await;

    good_client_is_served(&gw, 10).await;
    let m = gw.metrics().await;
    let open_now = metric(&m, "scrapegate_connections_open").unwrap();
    assert!(
        open_now >= HOSTILE as f64,
        "connections_open {open_now}:\n{m}"
    );
    assert_eq!(
        tally.closed.load(Ordering::SeqCst),
        0,
        "a stalled handshake was closed before the good client was done"
    );

    let min_life = tally
        .assert_all_cut_at(handshake_timeout, "stalled handshake")
        .await;
    let m = gw.metrics().await;
    let timeouts = metric(
        &m,
        "scrapegate_tls_handshake_failures_total{reason=\"timeout\"}",
    )
    .unwrap_or(0.0);
    assert!(
        timeouts >= HOSTILE as f64,
        "handshake timeouts {timeouts}:\n{m}"
    );
    let mut gw = sole(gw).await;
    assert!(gw.proc.alive());
    good_client_is_served(&gw, 2).await;
    eprintln!(
        "stalled handshakes: {HOSTILE} open while 20 good requests succeeded; all cut by the \
         {handshake_timeout:?} handshake timeout (shortest life {min_life:?}, {timeouts} counted)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_beyond_its_bound_cleanly_and_frees_slots() {
    raise_nofile(4096);
    let up = TestUpstream::demo().await;
    const LIMIT: usize = 100;
    let mut gw = start(
        &up,
        GwOpts {
            flags: vec![format!("--web.max-connections={LIMIT}")],
            ..GwOpts::default()
        },
    );
    // Fill every slot with a served keep-alive connection.
    let mut held = Vec::new();
    for i in 0..LIMIT {
        let mut c = gw.client(None).await.expect("connect within the limit");
        let got = c
            .get("/metrics", Some(&gw.auth))
            .await
            .expect("request within the limit");
        assert_eq!(got.0, 200, "connection {i}");
        held.push(c);
    }
    // Beyond the bound: accepted by the kernel, then closed at once with a FIN (no reset, no
    // bytes), and a TLS client sees its handshake fail.
    for i in 0..20 {
        let mut tcp = tcp_from(None, gw.addr).await.expect("kernel accepts");
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("excess connection {i} was left open"));
        assert_eq!(
            n.expect("clean close, not a reset"),
            0,
            "excess connection {i} got bytes"
        );
    }
    let refused_tls = tokio::time::timeout(Duration::from_secs(10), gw.client(None))
        .await
        .expect("excess TLS connection left hanging");
    assert!(
        refused_tls.is_err(),
        "a TLS connection beyond the limit was served"
    );
    // The held connections are unaffected.
    for (i, c) in held.iter_mut().enumerate() {
        let got = c
            .get("/metrics", Some(&gw.auth))
            .await
            .expect("held connection still serves");
        assert_eq!(got.0, 200, "held connection {i}");
    }
    // Closing some frees their slots: new connections are served again.
    held.truncate(LIMIT - 10);
    let served = eventually(Duration::from_secs(10), || async {
        match gw.client(None).await {
            Ok(mut c) => matches!(c.get("/metrics", Some(&gw.auth)).await, Ok((200, _))),
            Err(_) => false,
        }
    })
    .await;
    assert!(served, "no new connection served after slots were freed");
    let m = gw.metrics().await;
    let refused = metric(&m, "scrapegate_connections_refused_total").unwrap();
    assert!(refused >= 21.0, "connections_refused {refused}:\n{m}");
    assert!(gw.proc.alive());
}

/// Sends `raw` on a new connection (TLS when `tls`), returns everything the server sent before
/// closing (bounded by a deadline).
async fn exchange(gw: &Gw, raw: &[u8], tls: bool) -> Vec<u8> {
    let mut io: BoxIo = if tls {
        gw.connect_to(gw.addr, None).await.expect("connect")
    } else {
        Box::pin(tcp_from(None, gw.addr).await.expect("connect"))
    };
    // The write may fail part-way when the server answers early and closes: that is fine.
    let _ = io.write_all(raw).await;
    let _ = io.flush().await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), read_all).await;
    out
}

fn status_line(resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    text.lines().next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_and_the_gateway_keeps_serving() {
    let up = TestUpstream::demo().await;
    let mut gw = start(
        &up,
        GwOpts {
            flags: vec!["--web.max-header-bytes=16384".into()],
            ..GwOpts::default()
        },
    );
    let auth = gw.auth.clone();
    let one_big = format!(
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let many: String = (0..400)
        .map(|i| format!("X-Many-{i}: {}\r\n", "b".repeat(60)))
        .collect();
    let many =
        format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n{many}\r\n");
    let huge_uri = format!(
        "GET /metrics?{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "q".repeat(20_000)
    );
    for (name, req) in [
        ("one big header", &one_big),
        ("many headers", &many),
        ("huge URI", &huge_uri),
    ] {
        let resp = exchange(&gw, req.as_bytes(), true).await;
        assert_eq!(
            status_line(&resp),
            "HTTP/1.1 431 Request Header Fields Too Large",
            "{name}: {}",
            String::from_utf8_lossy(&resp)
        );
    }
    // Just under the limit is served.
    let fits = format!(
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(12_000)
    );
    let resp = exchange(&gw, fits.as_bytes(), true).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 200 OK",
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert!(gw.proc.alive());
    good_client_is_served(&gw, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_never_a_panic_and_the_gateway_keeps_serving() {
    let up = TestUpstream::demo().await;
    let mut gw = start(&up, GwOpts::default());
    let cases: &[(&str, &[u8])] = &[
        ("binary junk", b"\x00\x01\x02\x03\xff\xfe garbage\r\n\r\n"),
        ("no method", b"/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("space in the target", b"GET /me trics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bad version", b"GET /metrics HTTP/1.x\r\nHost: localhost\r\n\r\n"),
        ("header without colon", b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n"),
        ("empty header name", b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n: value\r\n\r\n"),
        ("space before colon", b"GET /metrics HTTP/1.1\r\nHost : localhost\r\n\r\n"),
        ("NUL in a header value", b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n"),
        ("obsolete line folding", b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n folded\r\n\r\n"),
        ("non-numeric Content-Length", b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n"),
        ("conflicting Content-Lengths", b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("Transfer-Encoding not ending in chunked", b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("bare LF junk", b"\n\n\nGET\n\n"),
    ];
    let mut failures = Vec::new();
    for (name, raw) in cases {
        let resp = exchange(&gw, raw, true).await;
        let line = status_line(&resp);
        if !line.starts_with("HTTP/1.1 400 ") {
            failures.push(format!("{name}: {line:?}"));
        }
        assert!(
            gw.proc.alive(),
            "the gateway died on {name}:\n{}",
            gw.proc.stderr.all()
        );
    }
    // Plain HTTP on the TLS port: Go's 400.
    let resp = exchange(
        &gw,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
        false,
    )
    .await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.0 400 Bad Request"), "{text}");
    assert!(
        text.ends_with("Client sent an HTTP request to an HTTPS server.\n"),
        "{text}"
    );
    // Garbage where the ClientHello belongs: the connection is closed, nothing breaks.
    let _ = exchange(&gw, b"\x16\x03\x01\x00\x05hello-not-really", false).await;
    assert!(
        failures.is_empty(),
        "not answered 400:\n{}",
        failures.join("\n")
    );
    assert!(gw.proc.alive());
    good_client_is_served(&gw, 2).await;
    let log = gw.proc.stderr.all();
    assert!(!log.contains("panicked"), "{log}");
}

/// The gateway back from its `Arc` once the hostile clients' tasks, which hold clones until
/// they have wound down, are gone (deadline-bounded).
async fn sole(mut gw: Arc<Gw>) -> Gw {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Arc::try_unwrap(gw) {
            Ok(gw) => return gw,
            Err(shared) => {
                assert!(
                    Instant::now() < deadline,
                    "client tasks still hold the gateway"
                );
                gw = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
