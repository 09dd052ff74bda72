//! End-to-end hot reload: the real `scrapegate` binary on 127.0.0.1, a tiny hyper upstream in
//! the test, a rustls client that records which certificate it was served, and web.yml,
//! certificate and key files rewritten on disk the ways operators and Kubernetes do it.
//! Every wait is a deadline-bounded poll or an event; nothing sleeps to synchronise.

use std::convert::Infallible;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

/// How long the gateway may take to come up (a debug binary on a busy machine).
const STARTUP: Duration = Duration::from_secs(30);

// ---- files ---------------------------------------------------------------------------------

/// A server certificate and its key, as PEM, plus the certificate's DER to recognise it.
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn new_pair() -> Pair {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Pair {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().to_vec(),
    }
}

/// bcrypt at the lowest cost Go accepts, so tests stay fast.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// A web.yml with TLS from `cert`/`key` (relative to web.yml) and one user.
fn web_yml(cert: &str, key: &str, user: &str, password_hash: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  {user}: {password_hash}\n"
    )
}

/// Replaces `path` by renaming a fully written sibling over it (a new inode).
fn atomic_write(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("swap-tmp");
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Rewrites `path` in place and puts its old modification and access times back.
fn overwrite_keeping_mtime(path: &Path, content: &[u8]) {
    let before = fs::metadata(path).unwrap();
    let times = fs::FileTimes::new()
        .set_modified(before.modified().unwrap())
        .set_accessed(before.accessed().unwrap());
    fs::write(path, content).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(times)
        .unwrap();
    assert_eq!(
        fs::metadata(path).unwrap().modified().unwrap(),
        before.modified().unwrap()
    );
}

/// A directory with web.yml, server.crt and server.key.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(pair: &Pair, user: &str, password: &str) -> Self {
        let site = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        site.write_pair(pair);
        fs::write(
            site.yml(),
            web_yml("server.crt", "server.key", user, &hash(password)),
        )
        .unwrap();
        site
    }

    fn yml(&self) -> PathBuf {
        self.dir.path().join("web.yml")
    }

    fn write_pair(&self, pair: &Pair) {
        fs::write(self.dir.path().join("server.crt"), &pair.cert_pem).unwrap();
        fs::write(self.dir.path().join("server.key"), &pair.key_pem).unwrap();
    }

    /// Rotates to `pair` with two atomic renames, key first (the moment in between is a
    /// mismatched pair, which must never be served).
    fn rotate(&self, pair: &Pair) {
        atomic_write(&self.dir.path().join("server.key"), pair.key_pem.as_bytes());
        atomic_write(
            &self.dir.path().join("server.crt"),
            pair.cert_pem.as_bytes(),
        );
    }
}

// ---- upstream and gateway ------------------------------------------------------------------

const UPSTREAM_BODY: &[u8] = b"upstream-ok\n";

/// A tiny HTTP/1.1 upstream on 127.0.0.1 answering every request with `UPSTREAM_BODY`.
async fn start_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(UPSTREAM_BODY))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The running binary; killed (by its own pid) when dropped.
struct Gateway {
    child: Child,
    listen: SocketAddr,
    telemetry: SocketAddr,
    log: PathBuf,
}

impl Gateway {
    async fn start(config: &Path, upstream: SocketAddr, extra: &[&str]) -> Self {
        let listen = free_port();
        let telemetry = free_port();
        let log = config.with_file_name("gateway.log");
        let child = Command::new(env!("CARGO_BIN_EXE_scrapegate"))
            .arg(format!("--web.config.file={}", config.display()))
            .arg(format!("--upstream=http://{upstream}"))
            .arg(format!("--web.listen-address={listen}"))
            .arg(format!("--web.telemetry-address={telemetry}"))
            .arg("--log.level=debug")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start scrapegate");
        let mut gateway = Self {
            child,
            listen,
            telemetry,
            log,
        };
        // The toolkit's order is "Listening on" first and the config after, so an open port
        // is not enough: wait for TLS handshakes to succeed on both listeners.
        let client = Client::new();
        let start = Instant::now();
        for addr in [listen, telemetry] {
            while client.connect(addr).await.is_err() {
                if let Ok(Some(status)) = gateway.child.try_wait() {
                    panic!("scrapegate exited ({status}):\n{}", gateway.logs());
                }
                if start.elapsed() > STARTUP {
                    panic!(
                        "scrapegate not ready after {STARTUP:?}:\n{}",
                        gateway.logs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        gateway
    }

    fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sighup(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: plain kill(2) on the child this test started.
        let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill -HUP failed");
    }

    /// Polls `check` every 20 ms until it holds, up to `within`; returns how long it took.
    async fn eventually<F, Fut>(&self, within: Duration, what: &str, mut check: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            if check().await {
                return start.elapsed();
            }
            if start.elapsed() > within {
                panic!(
                    "timed out after {within:?} waiting for {what}\n--- gateway log ---\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One request on a fresh connection to the main listener.
    async fn get(&self, client: &Client, password: &str) -> Result<Reply, String> {
        let mut conn = client.connect(self.listen).await?;
        conn.get("/metrics", "alice", password).await
    }

    /// The gateway's own metrics (same web.yml protection as the main listener), or why not.
    async fn metrics(&self, client: &Client, password: &str) -> Result<String, String> {
        let mut conn = client.connect(self.telemetry).await?;
        let reply = conn.get("/metrics", "alice", password).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("metrics answered {}", reply.status));
        }
        Ok(reply.body)
    }

    /// True once /metrics, read with `password`, shows `line`.
    async fn metrics_show(&self, client: &Client, password: &str, line: &str) -> bool {
        match self.metrics(client, password).await {
            Ok(body) => body.lines().any(|l| l == line),
            Err(_) => false,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- client --------------------------------------------------------------------------------

/// Accepts any server certificate (the test checks which one it got) while still checking
/// the handshake signature against it.
#[derive(Debug)]
struct AnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[derive(Clone)]
struct Client {
    tls: TlsConnector,
}

impl Client {
    fn new() -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = AnyServerCert(provider.signature_verification_algorithms);
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Each new connection must show the certificate the server holds now: no resumption.
        config.resumption = rustls::client::Resumption::disabled();
        Self {
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Opens a TLS connection and an HTTP/1.1 session on it.
    async fn connect(&self, addr: SocketAddr) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let tls = self
            .tls
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.to_vec())
            .ok_or("no server certificate")?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Conn { sender, leaf })
    }
}

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    /// DER of the certificate this connection was served.
    leaf: Vec<u8>,
}

struct Reply {
    status: StatusCode,
    body: String,
    leaf: Vec<u8>,
}

impl Conn {
    async fn get(&mut self, path: &str, user: &str, password: &str) -> Result<Reply, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let request = Request::get(path)
            .header(hyper::header::HOST, "localhost")
            .header(
                hyper::header::AUTHORIZATION,
                basic(&format!("{user}:{password}")),
            )
            .body(Empty::new())
            .unwrap();
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            leaf: self.leaf.clone(),
        })
    }
}

/// `Basic <base64(credentials)>`, with a small local encoder.
fn basic(credentials: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in credentials.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn status_with(gateway: &Gateway, client: &Client, password: &str) -> Option<StatusCode> {
    gateway.get(client, password).await.ok().map(|r| r.status)
}

/// Waits until `password` is accepted and `old` refused; returns how long that took.
async fn wait_password_switch(
    gateway: &Gateway,
    client: &Client,
    new: &str,
    old: &str,
    within: Duration,
) -> Duration {
    let took = gateway
        .eventually(within, "the new password to be accepted", || async {
            status_with(gateway, client, new).await == Some(StatusCode::OK)
        })
        .await;
    assert_eq!(
        status_with(gateway, client, old).await,
        Some(StatusCode::UNAUTHORIZED),
        "old password still accepted"
    );
    took
}

async fn wait_cert(
    gateway: &Gateway,
    client: &Client,
    pair: &Pair,
    pw: &str,
    within: Duration,
) -> Duration {
    gateway
        .eventually(
            within,
            "a new connection to get the new certificate",
            || async {
                match gateway.get(client, pw).await {
                    Ok(reply) => reply.leaf == pair.der && reply.status == StatusCode::OK,
                    Err(_) => false,
                }
            },
        )
        .await
}

fn reload_ok_line(value: u8) -> String {
    format!("scrapegate_config_last_reload_successful {value}")
}

// ---- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_password_change_applies_within_2s() {
    let site = Site::new(&new_pair(), "alice", "old-pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();
    let first = gateway.get(&client, "old-pw").await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.as_bytes(), UPSTREAM_BODY);
    assert_eq!(
        status_with(&gateway, &client, "new-pw").await,
        Some(StatusCode::UNAUTHORIZED)
    );

    atomic_write(
        &site.yml(),
        web_yml("server.crt", "server.key", "alice", &hash("new-pw")).as_bytes(),
    );
    let took = wait_password_switch(
        &gateway,
        &client,
        "new-pw",
        "old-pw",
        Duration::from_secs(2),
    )
    .await;
    eprintln!("password change applied after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_broken_config_keeps_serving_and_fix_recovers() {
    let site = Site::new(&new_pair(), "alice", "pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();
    assert_eq!(
        status_with(&gateway, &client, "pw").await,
        Some(StatusCode::OK)
    );

    fs::write(
        site.yml(),
        "tls_server_config:\n  cert_file: server.crt\n  bogus: 1\n",
    )
    .unwrap();
    gateway
        .eventually(
            Duration::from_secs(5),
            "the failed reload on /metrics",
            || async {
                gateway
                    .metrics_show(&client, "pw", &reload_ok_line(0))
                    .await
            },
        )
        .await;
    // The last good config keeps serving: same user, same certificate, upstream reached.
    let reply = gateway.get(&client, "pw").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.as_bytes(), UPSTREAM_BODY);

    fs::write(
        site.yml(),
        web_yml("server.crt", "server.key", "alice", &hash("pw2")),
    )
    .unwrap();
    gateway
        .eventually(
            Duration::from_secs(5),
            "the recovered reload on /metrics",
            || async {
                gateway
                    .metrics_show(&client, "pw2", &reload_ok_line(1))
                    .await
            },
        )
        .await;
    wait_password_switch(&gateway, &client, "pw2", "pw", Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_certificate_replaced_atomically_within_1s() {
    let first = new_pair();
    let site = Site::new(&first, "alice", "pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();
    assert_eq!(gateway.get(&client, "pw").await.unwrap().leaf, first.der);

    let second = new_pair();
    site.rotate(&second);
    let took = wait_cert(&gateway, &client, &second, "pw", Duration::from_secs(1)).await;
    eprintln!("certificate rotation served after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_half_rotation_keeps_the_old_pair_until_the_key_follows() {
    let first = new_pair();
    let site = Site::new(&first, "alice", "pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();

    // New certificate, old key: the reload fails and the old pair keeps being served.
    let second = new_pair();
    atomic_write(
        &site.dir.path().join("server.crt"),
        second.cert_pem.as_bytes(),
    );
    gateway
        .eventually(
            Duration::from_secs(5),
            "the failed reload on /metrics",
            || async {
                gateway
                    .metrics_show(&client, "pw", &reload_ok_line(0))
                    .await
            },
        )
        .await;
    let reply = gateway.get(&client, "pw").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.leaf, first.der, "a half-rotated pair was served");

    atomic_write(
        &site.dir.path().join("server.key"),
        second.key_pem.as_bytes(),
    );
    wait_cert(&gateway, &client, &second, "pw", Duration::from_secs(2)).await;
    assert!(
        gateway
            .metrics_show(&client, "pw", &reload_ok_line(1))
            .await
    );
}

/// Publishes a Kubernetes Secret generation in `dir`: files in `..<stamp>/`, `..data` swapped
/// to it by renaming a fresh symlink over it, visible names linking through `..data`.
fn k8s_publish(dir: &Path, stamp: &str, files: &[(&str, &str)]) {
    let generation = dir.join(format!("..{stamp}"));
    fs::create_dir(&generation).unwrap();
    for (name, content) in files {
        fs::write(generation.join(name), content).unwrap();
    }
    std::os::unix::fs::symlink(format!("..{stamp}"), dir.join("..data_tmp")).unwrap();
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for (name, _) in files {
        let visible = dir.join(name);
        if fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &visible).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_kubernetes_data_swap_within_1s() {
    let dir = tempfile::tempdir().unwrap();
    let yml = web_yml("tls.crt", "tls.key", "alice", &hash("pw"));
    let first = new_pair();
    k8s_publish(
        dir.path(),
        "2026_11_29_10_00_00.1",
        &[
            ("web.yml", &yml),
            ("tls.crt", &first.cert_pem),
            ("tls.key", &first.key_pem),
        ],
    );
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&dir.path().join("web.yml"), upstream, &[]).await;
    let client = Client::new();
    assert_eq!(gateway.get(&client, "pw").await.unwrap().leaf, first.der);

    let mut previous = "2026_11_29_10_00_00.1".to_string();
    for round in 2..=3 {
        let pair = new_pair();
        let stamp = format!("2026_11_29_10_00_00.{round}");
        k8s_publish(
            dir.path(),
            &stamp,
            &[
                ("web.yml", &yml),
                ("tls.crt", &pair.cert_pem),
                ("tls.key", &pair.key_pem),
            ],
        );
        fs::remove_dir_all(dir.path().join(format!("..{previous}"))).unwrap();
        previous = stamp;
        let took = wait_cert(&gateway, &client, &pair, "pw", Duration::from_secs(1)).await;
        eprintln!("..data swap {round} served after {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_in_place_overwrite_with_old_mtime_is_picked_up() {
    let site = Site::new(&new_pair(), "alice", "old-pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();
    assert_eq!(
        status_with(&gateway, &client, "old-pw").await,
        Some(StatusCode::OK)
    );

    overwrite_keeping_mtime(
        &site.yml(),
        web_yml("server.crt", "server.key", "alice", &hash("new-pw")).as_bytes(),
    );
    wait_password_switch(
        &gateway,
        &client,
        "new-pw",
        "old-pw",
        Duration::from_secs(2),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_polling_alone_picks_change_up_within_interval() {
    let site = Site::new(&new_pair(), "alice", "old-pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(
        &site.yml(),
        upstream,
        &[
            "--web.config.no-inotify",
            "--web.config.poll-interval=500ms",
        ],
    )
    .await;
    let client = Client::new();
    assert_eq!(
        status_with(&gateway, &client, "old-pw").await,
        Some(StatusCode::OK)
    );

    // Old mtime restored too: the poll must compare contents.
    overwrite_keeping_mtime(
        &site.yml(),
        web_yml("server.crt", "server.key", "alice", &hash("new-pw")).as_bytes(),
    );
    // One interval, plus the reload and a request's round trip: within the 2 s the reload
    // issue allows for a password change (700 ms of slack proved too tight on a loaded CI
    // machine, where the bcrypt of the new password queues behind the build).
    let took = wait_password_switch(
        &gateway,
        &client,
        "new-pw",
        "old-pw",
        Duration::from_millis(500) + Duration::from_millis(1500),
    )
    .await;
    eprintln!("polling picked the change up after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_sighup_forces_reload() {
    let site = Site::new(&new_pair(), "alice", "old-pw");
    let upstream = start_upstream().await;
    // Neither notify nor a poll within the test's lifetime: only SIGHUP can apply the change.
    let gateway = Gateway::start(
        &site.yml(),
        upstream,
        &["--web.config.no-inotify", "--web.config.poll-interval=1h"],
    )
    .await;
    let client = Client::new();
    atomic_write(
        &site.yml(),
        web_yml("server.crt", "server.key", "alice", &hash("new-pw")).as_bytes(),
    );
    assert_eq!(
        status_with(&gateway, &client, "old-pw").await,
        Some(StatusCode::OK)
    );
    gateway.sighup();
    wait_password_switch(
        &gateway,
        &client,
        "new-pw",
        "old-pw",
        Duration::from_secs(5),
    )
    .await;

    // A SIGHUP with nothing changed still reloads (and counts as a successful reload).
    let before = gateway
        .metrics(&client, "new-pw")
        .await
        .ok()
        .and_then(|body| metric_value(&body, RELOADS_OK))
        .expect("reload counter on /metrics");
    gateway.sighup();
    gateway
        .eventually(
            Duration::from_secs(5),
            "a reload on SIGHUP without changes",
            || async {
                let now = gateway.metrics(&client, "new-pw").await.ok();
                now.and_then(|body| metric_value(&body, RELOADS_OK))
                    .is_some_and(|n| n > before)
            },
        )
        .await;
}

/// The successful-reload counter's sample name.
const RELOADS_OK: &str = "scrapegate_config_reloads_total{result=\"success\"}";

/// The value of the sample called exactly `sample` in a Prometheus text exposition.
fn metric_value(body: &str, sample: &str) -> Option<f64> {
    body.lines()
        .filter_map(|line| line.strip_prefix(sample))
        .find_map(|rest| rest.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Counts of the load clients.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn record(&self, result: &Result<Reply, String>, what: &str) {
        match result {
            Ok(reply)
                if reply.status == StatusCode::OK && reply.body.as_bytes() == UPSTREAM_BODY =>
            {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(reply) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("{what}: status {} body {:?}", reply.status, reply.body);
            }
            Err(err) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("{what}: {err}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_50_rotations_zero_failed_requests() {
    const ROTATIONS: usize = 50;
    let first = new_pair();
    let site = Site::new(&first, "alice", "pw");
    let upstream = start_upstream().await;
    let gateway = Gateway::start(&site.yml(), upstream, &[]).await;
    let client = Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let keepalive = Arc::new(Tally::default());
    let fresh = Arc::new(Tally::default());
    let mut clients = Vec::new();

    // Keep-alive clients: one connection each, requests back to back for the whole test.
    for _ in 0..2 {
        let (client, stop, tally, addr) = (
            client.clone(),
            stop.clone(),
            keepalive.clone(),
            gateway.listen,
        );
        clients.push(tokio::spawn(async move {
            let mut conn = client.connect(addr).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let result = conn.get("/metrics", "alice", "pw").await;
                tally.record(&result, "keep-alive");
            }
        }));
    }
    // New-connection clients: a full handshake per request, so each sees the current pair.
    for _ in 0..2 {
        let (client, stop, tally, addr) =
            (client.clone(), stop.clone(), fresh.clone(), gateway.listen);
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = match client.connect(addr).await {
                    Ok(mut conn) => conn.get("/metrics", "alice", "pw").await,
                    Err(e) => Err(e),
                };
                tally.record(&result, "new connection");
            }
        }));
    }

    let mut slowest = Duration::ZERO;
    for _ in 0..ROTATIONS {
        let pair = new_pair();
        site.rotate(&pair);
        let took = wait_cert(&gateway, &client, &pair, "pw", Duration::from_secs(5)).await;
        slowest = slowest.max(took);
    }
    stop.store(true, Ordering::Relaxed);
    for task in clients {
        task.await.unwrap();
    }
    let (ka_ok, ka_failed) = (
        keepalive.ok.load(Ordering::Relaxed),
        keepalive.failed.load(Ordering::Relaxed),
    );
    let (nc_ok, nc_failed) = (
        fresh.ok.load(Ordering::Relaxed),
        fresh.failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "{ROTATIONS} rotations (slowest seen after {slowest:?}): keep-alive {ka_ok} ok / {ka_failed} failed, new connections {nc_ok} ok / {nc_failed} failed"
    );
    assert!(ka_ok > 0 && nc_ok > 0, "the load clients made no requests");
    assert_eq!(ka_failed + nc_failed, 0, "failed requests during rotations");
}
