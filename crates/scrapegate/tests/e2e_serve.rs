//! The real binary: startup failures with Go's error text, TLS + basic auth through curl, and
//! a graceful SIGTERM that lets an in-flight request finish.

use std::time::Duration;

use scrapegate_testkit::http_client::raw;
use scrapegate_testkit::process::{address_field, run};
use scrapegate_testkit::{DEADLINE, Proc, STARTUP, TestUpstream, TlsSite, curl, hash, spawn, tool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

#[test]
fn broken_web_config_fails_startup_with_go_text_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  john: doe\n").unwrap();
    let mut p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", web.display()),
            "--upstream=http://127.0.0.1:9".into(),
        ],
    );
    assert_eq!(p.wait_exit(STARTUP), Some(1), "{}", p.stderr.all());
    let log = p.stderr.all();
    assert!(
        log.contains("crypto/bcrypt: hashedSecret too short to be a bcrypted password"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_through_curl() {
    let Some(curl_bin) = tool("/usr/bin/curl") else {
        return;
    };
    let up = TestUpstream::demo().await;
    let site = TlsSite::new(&format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
         basic_auth_users:\n  dave: {}\n",
        hash("dave123")
    ));
    let p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", site.web.display()),
            format!("--upstream=http://{}", up.addr),
        ],
    );
    let addr = p.listening_on();
    assert!(
        p.stderr
            .wait_for(STARTUP, |l| l.contains("msg=\"TLS is enabled.\"")
                && l.contains("http2=true"))
            .is_some(),
        "{}",
        p.stderr.all()
    );
    let ca = site.file("ca.pem").display().to_string();
    let url = format!("https://{addr}/metrics");
    let (code, body) = curl(
        &curl_bin,
        &[
            "--cacert".into(),
            ca.clone(),
            "-u".into(),
            "dave:dave123".into(),
            url.clone(),
        ],
    );
    assert_eq!((code, body.as_str()), (200, "demo_metric 1\n"));
    let (code, body) = curl(
        &curl_bin,
        &[
            "--cacert".into(),
            ca.clone(),
            "-u".into(),
            "dave:wrong".into(),
            url.clone(),
        ],
    );
    assert_eq!((code, body.as_str()), (401, "Unauthorized\n"));
    let (code, _) = curl(&curl_bin, &["--cacert".into(), ca, url]);
    assert_eq!(code, 401);
    // No secret in the logs.
    let log = p.stderr.all();
    assert!(!log.contains("dave123") && !log.contains("$2y$"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_slow_request_finish() {
    let up = TestUpstream::demo().await;
    let mut p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--upstream=http://{}", up.addr),
            "--web.shutdown-timeout=20s".into(),
        ],
    );
    let addr = p.listening_on();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // Wait (bounded) until the request is in flight at the upstream.
    let deadline = tokio::time::Instant::now() + STARTUP;
    while up.hits() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.signal(libc::SIGTERM);
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out))
        .await
        .expect("response not finished")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("demo_metric 1\n"), "{text}");
    assert_eq!(
        p.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        p.stderr.all()
    );
    assert!(p.stderr.all().contains("All connections closed"));
}

/// What a client controls in its handshake does not reach the log: an IP address sent as SNI
/// (wrk and `openssl s_client -servername 1.2.3.4` do that) makes rustls warn once per
/// connection, which any client could turn into a flood of log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_address_as_sni_is_served_and_not_logged() {
    let Some(openssl) = tool("/usr/bin/openssl") else {
        return;
    };
    let up = TestUpstream::demo().await;
    let site = TlsSite::new("");
    let p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", site.web.display()),
            format!("--upstream=http://{}", up.addr),
        ],
    );
    let addr = p.listening_on();
    for _ in 0..3 {
        let out = run(
            std::process::Command::new(&openssl)
                .args(["s_client", "-quiet", "-connect", &addr.to_string()])
                .args(["-servername", "127.0.0.1", "-CAfile"])
                .arg(site.file("ca.pem")),
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            DEADLINE,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    }
    // The process is still up and logging (a later line proves earlier ones were flushed).
    p.signal(libc::SIGTERM);
    p.stderr
        .wait_for(STARTUP, |l| l.contains("All connections closed"))
        .expect("shutdown line");
    let log = p.stderr.all();
    assert!(!log.contains("SNI"), "{log}");
}

/// `--runtime.worker-threads`: 1 picks the single-threaded scheduler, more the work-stealing
/// one; both serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_choose_the_scheduler() {
    let up = TestUpstream::demo().await;
    for (workers, scheduler) in [("1", "current-thread"), ("2", "multi-thread")] {
        let p = spawn(
            SCRAPEGATE,
            &[
                "--web.listen-address=127.0.0.1:0".into(),
                format!("--runtime.worker-threads={workers}"),
                format!("--upstream=http://{}", up.addr),
            ],
        );
        let addr = p.listening_on();
        p.stderr
            .wait_for(STARTUP, |l| {
                l.contains("msg=Runtime")
                    && l.contains(&format!("workers={workers}"))
                    && l.contains(&format!("scheduler={scheduler}"))
            })
            .unwrap_or_else(|| panic!("no Runtime line for {workers}: {}", p.stderr.all()));
        for _ in 0..3 {
            let text = raw(addr, "GET", "/metrics").await;
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{workers}: {text}");
            assert!(text.ends_with("demo_metric 1\n"), "{workers}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_listen_address_ipv4_and_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    let up = TestUpstream::demo().await;
    let p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.listen-address=[::1]:0".into(),
            format!("--upstream=http://{}", up.addr),
        ],
    );
    // Both listeners log their line; wait (bounded) for each before reading the log.
    for family in ["address=127.0.0.1:", "address=[::1]:"] {
        p.stderr
            .wait_for(Duration::from_secs(20), |l| {
                l.contains("msg=\"Listening on\"") && l.contains(family)
            })
            .unwrap_or_else(|| panic!("no Listening on line with {family}"));
    }
    let lines: Vec<String> = p
        .stderr
        .all()
        .lines()
        .filter(|l| l.contains("msg=\"Listening on\""))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines {
        let addr = address_field(&line);
        let text = raw(addr, "GET", "/metrics").await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{addr}: {text}");
    }
}

/// `--web.systemd-socket`: the gateway serves the socket passed as fd 3 with LISTEN_FDS=1 and
/// LISTEN_PID set to its own pid (set by a shell that then execs the binary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_socket_activation() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let Some(sh) = tool("/bin/sh") else {
        return;
    };
    let up = TestUpstream::demo().await;
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let fd = socket.as_raw_fd();
    let mut cmd = std::process::Command::new(sh);
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(SCRAPEGATE)
        .arg("--web.systemd-socket")
        .arg(format!("--upstream=http://{}", up.addr))
        .env("LISTEN_FDS", "1");
    // SAFETY: only async-signal-safe dup2 between fork and exec; fd 3 becomes the listener
    // (dup2 clears close-on-exec on the new descriptor).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let p = Proc::start(cmd);
    drop(socket);
    // Bounded wait on a blocking condition variable: off the runtime's threads.
    let stderr = p.stderr.clone();
    let done = tokio::task::spawn_blocking(move || {
        stderr.wait_for(STARTUP, |l| l.contains("TLS is disabled."))
    })
    .await
    .unwrap();
    let seen = p.stderr.all();
    assert!(done.is_some(), "no TLS line:\n{seen}");
    let before_tls = &seen[..seen.find("TLS is disabled.").unwrap()];
    assert!(
        before_tls.contains("Listening on systemd activated listeners"),
        "{seen}"
    );
    let text = raw(addr, "GET", "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
}
