//! Runs the `newconn` binary against a real rustls server on loopback and checks what it
//! reports against what the server saw.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server answering every request with `status`, counting full and resumed handshakes
/// and the requests that carried the expected Authorization header.
struct Server {
    port: u16,
    full: Arc<AtomicU64>,
    resumed: Arc<AtomicU64>,
    authorized: Arc<AtomicU64>,
}

async fn server(status: &'static str) -> Server {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (full, resumed, authorized) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let counters = (
        Arc::clone(&full),
        Arc::clone(&resumed),
        Arc::clone(&authorized),
    );
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let (full, resumed, authorized) = (
                Arc::clone(&counters.0),
                Arc::clone(&counters.1),
                Arc::clone(&counters.2),
            );
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                match tls.get_ref().1.handshake_kind() {
                    Some(rustls::HandshakeKind::Resumed) => resumed.fetch_add(1, Ordering::Relaxed),
                    _ => full.fetch_add(1, Ordering::Relaxed),
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                if text.contains("\r\nAuthorization: Basic dTpw\r\n")
                    && text.contains("\r\nConnection: close\r\n")
                {
                    authorized.fetch_add(1, Ordering::Relaxed);
                }
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server {
        port,
        full,
        resumed,
        authorized,
    }
}

/// Runs the generator for a short while and returns its JSON line.
fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_newconn"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (
        out.status.success(),
        if stdout.is_empty() { stderr } else { stdout },
    )
}

/// The integer after `"key": ` in the generator's one-line JSON.
fn field(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    json[at + key.len() + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_a_full_handshake_and_is_counted() {
    let s = server("200 OK").await;
    let addr = format!("127.0.0.1:{}", s.port);
    let (ok, json) = tokio::task::spawn_blocking(move || {
        run(&[
            "--addr",
            &addr,
            "--authorization",
            "Basic dTpw",
            "--concurrency",
            "4",
            "--duration",
            "1",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{json}");
    let requests = field(&json, "requests");
    assert!(requests >= 4, "{json}");
    assert_eq!(field(&json, "errors"), 0, "{json}");
    assert_eq!(field(&json, "resumed"), 0, "{json}");
    // The server saw exactly one full handshake per counted request, never a resumption.
    assert_eq!(s.full.load(Ordering::Relaxed), requests);
    assert_eq!(s.resumed.load(Ordering::Relaxed), 0);
    assert_eq!(s.authorized.load(Ordering::Relaxed), requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_200_answers_are_errors() {
    let s = server("401 Unauthorized").await;
    let addr = format!("127.0.0.1:{}", s.port);
    let (ok, json) = tokio::task::spawn_blocking(move || {
        run(&["--addr", &addr, "--concurrency", "1", "--duration", "0.3"])
    })
    .await
    .unwrap();
    assert!(ok, "{json}");
    assert_eq!(field(&json, "requests"), 0, "{json}");
    assert!(field(&json, "errors") >= 1, "{json}");
    assert!(json.contains("status: HTTP/1.1 401"), "{json}");
}

#[test]
fn refuses_addresses_off_loopback() {
    let (ok, msg) = run(&["--addr", "192.0.2.1:443", "--duration", "0.1"]);
    assert!(!ok);
    assert!(msg.contains("not a loopback address"), "{msg}");
}
