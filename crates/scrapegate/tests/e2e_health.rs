//! The real binary's health listener (`--web.health-address`) and `scrapegate healthcheck`,
//! with a web.yml that requires TLS, verified client certificates and basic auth: the probe
//! paths answer in plain HTTP without any credential, nothing else does, and the main listener
//! still refuses every request that lacks one of the three.

mod e2e_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use e2e_support::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on one request or one `healthcheck` run.
const REQUEST: Duration = Duration::from_secs(20);

/// A client certificate (DER) and its key, issued by the CA in `client-ca.pem`.
struct ClientCert {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

/// The gateway under test: TLS with `RequireAndVerifyClientCert`, user `dave`, a configured
/// header, an upstream that counts hits, and the health listener on loopback.
struct Guarded {
    proc: Proc,
    main: SocketAddr,
    health: SocketAddr,
    up: Upstream,
    client: ClientCert,
    dir: tempfile::TempDir,
}

/// A client CA (written as `client-ca.pem`) and one certificate it issued.
fn write_client_pki(dir: &Path) -> ClientCert {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "e2e client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    std::fs::write(
        dir.join("client-ca.pem"),
        ca.self_signed(&ca_key).unwrap().pem(),
    )
    .unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["prometheus".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "prometheus");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    ClientCert {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

async fn start_guarded() -> Guarded {
    let up = upstream().await;
    let (dir, web) = tls_site(&format!(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
         basic_auth_users:\n  dave: {}\n",
        hash("dave123")
    ));
    let client = write_client_pki(dir.path());
    let proc = spawn(&[
        "--web.listen-address=127.0.0.1:0".into(),
        "--web.health-address=127.0.0.1:0".into(),
        format!("--web.config.file={}", web.display()),
        format!("--upstream=http://{}", up.addr),
    ]);
    let main = proc.listening_on();
    let line = proc
        .stderr
        .wait_for(STARTUP, |l| l.contains("msg=\"Health listening on\""))
        .unwrap_or_else(|| panic!("no health listener:\n{}", proc.stderr.all()));
    let health = address_field(&line);
    Guarded {
        proc,
        main,
        health,
        up,
        client,
        dir,
    }
}

/// One request written by hand on a fresh plain TCP connection; returns the raw response.
async fn raw(addr: SocketAddr, method: &str, path: &str) -> String {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        // A reset after the response (the gateway's TLS sniffing closes hard) is not a failure.
        let _ = tcp.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    tokio::time::timeout(REQUEST, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} on {addr}: no response within {REQUEST:?}"))
}

/// GET `/metrics` over TLS (trusting the test CA) with an optional client certificate and
/// optional `Authorization`; `Err` when the TLS or HTTP exchange fails.
async fn tls_get(
    g: &Guarded,
    with_cert: bool,
    auth: Option<(&str, &str)>,
) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(g.dir.path().join("ca.pem")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = if with_cert {
        builder
            .with_client_auth_cert(vec![g.client.cert.clone()], g.client.key.clone_key())
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(g.main)
            .await
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = hyper::Request::get("/metrics").header("host", "localhost");
        if let Some((user, password)) = auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req = req.header("authorization", format!("Basic {token}"));
        }
        let resp = send
            .send_request(req.body(Empty::<Bytes>::new()).unwrap())
            .await
            .map_err(|e| format!("request: {e}"))?;
        let code = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((code, String::from_utf8_lossy(&body.to_bytes()).into_owned()))
    };
    tokio::time::timeout(REQUEST, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST:?}"))?
}

/// Runs `scrapegate healthcheck ARGS` to completion (bounded); returns its exit code and
/// stderr.
fn healthcheck(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scrapegate"))
        .arg("healthcheck")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrapegate healthcheck");
    let end = Instant::now() + REQUEST;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scrapegate healthcheck {args:?} still running after {REQUEST:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The child has exited, so its stderr is complete and this read ends at once.
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code().expect("exited by a signal"), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_paths_answer_plain_http_without_credentials() {
    let g = start_guarded().await;
    let h = g.health;

    let text = raw(h, "GET", "/-/healthy").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nscrapegate is Healthy.\n"), "{text}");
    // Outside the gate: no configured headers either.
    assert!(
        !text.to_ascii_lowercase().contains("x-frame-options"),
        "{text}"
    );

    let text = raw(h, "GET", "/-/ready").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nscrapegate is Ready.\n"), "{text}");

    let text = raw(h, "HEAD", "/-/ready").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD carried a body: {text}");

    // Nothing else: not the telemetry, not the upstream, not the version.
    for path in ["/metrics", "/", "/-/reload", "/version"] {
        let text = raw(h, "GET", path).await;
        assert!(
            text.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{path}: {text}"
        );
        assert!(
            text.ends_with("\r\n\r\n404 page not found\n"),
            "{path}: {text}"
        );
    }
    for path in ["/-/healthy", "/-/ready"] {
        let text = raw(h, "POST", path).await;
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{path}: {text}"
        );
        assert!(
            text.to_ascii_lowercase()
                .contains("\r\nallow: get, head\r\n"),
            "{path}: {text}"
        );
    }
    assert_eq!(
        g.up.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the health listener reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_listener_still_refuses_unauthenticated_requests() {
    let g = start_guarded().await;

    // Plain HTTP on the TLS port: Go's 400.
    let text = raw(g.main, "GET", "/-/healthy").await;
    assert!(text.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{text}");
    assert!(
        text.ends_with("Client sent an HTTP request to an HTTPS server.\n"),
        "{text}"
    );
    // TLS without a client certificate: the server refuses the handshake (under TLS 1.3 the
    // client learns it at its first read), so no HTTP answer comes back.
    let no_cert = tls_get(&g, false, Some(("dave", "dave123"))).await;
    assert!(
        no_cert.is_err(),
        "served without a client certificate: {no_cert:?}"
    );
    // A verified client certificate but no password: 401.
    assert_eq!(
        tls_get(&g, true, None).await.unwrap(),
        (401, "Unauthorized\n".to_string())
    );
    assert_eq!(
        tls_get(&g, true, Some(("dave", "wrong"))).await.unwrap().0,
        401
    );
    // All three: the scrape goes through (so the refusals above are the gate's doing).
    assert_eq!(
        tls_get(&g, true, Some(("dave", "dave123"))).await.unwrap(),
        (200, "demo_metric 1\n".to_string())
    );
    assert_eq!(g.up.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_exit_codes_and_messages() {
    let g = start_guarded().await;
    let h = g.health;
    // Each run blocks this thread while it waits for the child: spawn_blocking keeps the
    // runtime free.
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            healthcheck(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap()
    };

    for path in ["/-/ready", "/-/healthy"] {
        let (code, stderr) = run(vec!["--url".into(), format!("http://{h}{path}")]).await;
        assert_eq!((code, stderr.as_str()), (0, ""), "{path}");
    }

    let url = format!("http://{h}/metrics");
    let (code, stderr) = run(vec!["--url".into(), url.clone()]).await;
    assert_eq!(
        (code, stderr),
        (1, format!("scrapegate healthcheck: {url}: 404 Not Found\n"))
    );

    // A closed port: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/-/ready");
    let (code, stderr) = run(vec!["--url".into(), url.clone()]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("scrapegate healthcheck: {url}: connect: "))
            && stderr.contains("refused")
            && stderr.ends_with('\n')
            && stderr.lines().count() == 1,
        "{stderr}"
    );

    // A listener that accepts (the kernel does, from its backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/-/ready", silent.local_addr().unwrap());
    let started = Instant::now();
    let (code, stderr) = run(vec![
        "--url".into(),
        url.clone(),
        "--timeout".into(),
        "300ms".into(),
    ])
    .await;
    assert_eq!(
        (code, stderr),
        (
            1,
            format!("scrapegate healthcheck: {url}: timed out after 300ms\n")
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);

    // The main listener is TLS: a plain probe gets Go's 400, which is a failure.
    let url = format!("http://{}/-/ready", g.main);
    let (code, stderr) = run(vec!["--url".into(), url.clone()]).await;
    assert_eq!(
        (code, stderr),
        (
            1,
            format!("scrapegate healthcheck: {url}: 400 Bad Request\n")
        )
    );

    // https:// is refused before any connection, with the reason.
    let url = format!("https://{}/-/ready", g.main);
    let (code, stderr) = run(vec!["--url".into(), url]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("only http:// URLs"), "{stderr}");

    drop(g.proc);
}

/// An unauthenticated listener on a non-loopback address is allowed, and warned about.
#[test]
fn non_loopback_health_address_is_warned_about() {
    let p = spawn(&[
        "--web.listen-address=127.0.0.1:0".into(),
        "--web.health-address=0.0.0.0:0".into(),
        "--upstream=http://127.0.0.1:9".into(),
    ]);
    let line = p
        .stderr
        .wait_for(STARTUP, |l| {
            l.contains("level=warn") && l.contains("health listener is not on loopback")
        })
        .unwrap_or_else(|| panic!("no warning:\n{}", p.stderr.all()));
    assert!(line.contains("address=0.0.0.0:"), "{line}");
}
