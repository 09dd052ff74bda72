//! The real binary: startup failures with Go's error text, TLS + basic auth through curl, and
//! a graceful SIGTERM that lets an in-flight request finish.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn broken_web_config_fails_startup_with_go_text_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  john: doe\n").unwrap();
    let mut p = spawn(&[
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--web.config.file={}", web.display()),
        "--upstream=http://127.0.0.1:9".into(),
    ]);
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
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  dave: {}\n",
            hash("dave123")
        ),
    )
    .unwrap();
    let p = spawn(&[
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--web.config.file={}", web.display()),
        format!("--upstream=http://{}", up.addr),
    ]);
    let addr = p.listening_on();
    assert!(
        p.stderr
            .wait_for(STARTUP, |l| l.contains("msg=\"TLS is enabled.\"")
                && l.contains("http2=true"))
            .is_some(),
        "{}",
        p.stderr.all()
    );
    let ca = dir.path().join("ca.pem").display().to_string();
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
    let up = upstream().await;
    let mut p = spawn(&[
        "--web.listen-address=127.0.0.1:0".into(),
        format!("--upstream=http://{}", up.addr),
        "--web.shutdown-timeout=20s".into(),
    ]);
    let addr = p.listening_on();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // Wait (bounded) until the request is in flight at the upstream.
    let deadline = tokio::time::Instant::now() + STARTUP;
    while up.hits.load(std::sync::atomic::Ordering::SeqCst) == 0 {
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
