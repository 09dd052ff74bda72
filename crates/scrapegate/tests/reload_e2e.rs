//! End-to-end hot reload: the real `scrapegate` binary on 127.0.0.1, the test kit's upstream,
//! a rustls client that records which certificate it was served, and web.yml, certificate and
//! key files rewritten on disk the ways operators and Kubernetes do it (`testkit::files`).
//! Every wait is a deadline-bounded poll or an event; nothing sleeps to synchronise.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use scrapegate_testkit::files::{atomic_write, k8s_publish, overwrite_keeping_mtime};
use scrapegate_testkit::http_client::Client as KitClient;
use scrapegate_testkit::pki::{KeyAlg, LeafSpec, self_signed};
use scrapegate_testkit::process::log_field;
use scrapegate_testkit::tls_client::{
    AcceptAnyServerCert, ClientOpts, client_config, connect, handshake,
};
use scrapegate_testkit::{
    Ca, DEADLINE, Http1, Leaf, Proc, STARTUP, TestUpstream, basic, eventually, free_addr, hash,
    metric, spawn,
};
use tokio::net::TcpStream;

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

// ---- files ---------------------------------------------------------------------------------

/// A fresh self-signed server certificate for `localhost` (ECDSA P-256) and its key.
fn new_pair() -> Leaf {
    self_signed(&LeafSpec::server(KeyAlg::EcdsaP256))
}

/// A web.yml with TLS from `cert`/`key` (relative to web.yml) and one user.
fn web_yml(cert: &str, key: &str, user: &str, password_hash: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  {user}: {password_hash}\n"
    )
}

/// A directory with web.yml, server.crt and server.key.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(pair: &Leaf, user: &str, password: &str) -> Self {
        let site = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        pair.write(site.dir.path(), "server");
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

    /// Rotates to `pair` with two atomic renames, key first (the moment in between is a
    /// mismatched pair, which must never be served).
    fn rotate(&self, pair: &Leaf) {
        atomic_write(&self.dir.path().join("server.key"), pair.key_pem.as_bytes());
        atomic_write(
            &self.dir.path().join("server.crt"),
            pair.cert_pem.as_bytes(),
        );
    }
}

// ---- upstream and gateway ------------------------------------------------------------------

/// What the upstream ([`TestUpstream::demo`]) answers.
const UPSTREAM_BODY: &[u8] = b"demo_metric 1\n";

/// The running binary (killed when dropped), its main and telemetry listeners.
struct Gateway {
    proc: Proc,
    listen: SocketAddr,
    telemetry: SocketAddr,
}

impl Gateway {
    async fn start(config: &Path, upstream: &TestUpstream, extra: &[&str]) -> Self {
        let listen = free_addr();
        let telemetry = free_addr();
        let mut args = vec![
            format!("--web.config.file={}", config.display()),
            format!("--upstream={}", upstream.url()),
            format!("--web.listen-address={listen}"),
            format!("--web.telemetry-address={telemetry}"),
            "--log.level=debug".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut gateway = Self {
            proc: spawn(SCRAPEGATE, &args),
            listen,
            telemetry,
        };
        // The toolkit's order is "Listening on" first and the config after, so an open port
        // is not enough: wait for TLS handshakes to succeed on both listeners.
        let client = Client::new();
        let start = Instant::now();
        for addr in [listen, telemetry] {
            while client.connect(addr).await.is_err() {
                if let Ok(Some(status)) = gateway.proc.child.try_wait() {
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
        self.proc.stderr.all()
    }

    fn sighup(&self) {
        self.proc.signal(libc::SIGHUP);
    }

    /// Polls `check` every 20 ms until it holds, up to `within`; returns how long it took.
    async fn eventually<F, Fut>(&self, within: Duration, what: &str, check: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        if !eventually(within, check).await {
            panic!(
                "timed out after {within:?} waiting for {what}\n--- gateway log ---\n{}",
                self.logs()
            );
        }
        start.elapsed()
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

// ---- client --------------------------------------------------------------------------------

/// HTTP/1.1 over TLS, accepting any server certificate (the test checks which one it got)
/// while still checking the handshake signature against it.
#[derive(Clone)]
struct Client {
    tls: Arc<ClientConfig>,
}

impl Client {
    fn new() -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = AcceptAnyServerCert(Arc::clone(&provider));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Each new connection must show the certificate the server holds now: no resumption.
        config.resumption = rustls::client::Resumption::disabled();
        Self {
            tls: Arc::new(config),
        }
    }

    /// Opens a TLS connection and an HTTP/1.1 session on it.
    async fn connect(&self, addr: SocketAddr) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let tls = handshake(tcp, Arc::clone(&self.tls))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned()
            .ok_or("no server certificate")?;
        let http = Http1::handshake(tls).await.map_err(|e| e.to_string())?;
        Ok(Conn { http, leaf })
    }
}

struct Conn {
    http: Http1,
    /// The certificate this connection was served.
    leaf: CertificateDer<'static>,
}

struct Reply {
    status: StatusCode,
    body: String,
    leaf: CertificateDer<'static>,
}

impl Conn {
    async fn get(&mut self, path: &str, user: &str, password: &str) -> Result<Reply, String> {
        let (status, body) = self
            .http
            .get(path, Some(&basic(user, password)))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Reply {
            status: StatusCode::from_u16(status).map_err(|e| e.to_string())?,
            body,
            leaf: self.leaf.clone(),
        })
    }
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
    pair: &Leaf,
    pw: &str,
    within: Duration,
) -> Duration {
    gateway
        .eventually(
            within,
            "a new connection to get the new certificate",
            || async {
                match gateway.get(client, pw).await {
                    Ok(reply) => reply.leaf == pair.cert_der && reply.status == StatusCode::OK,
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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
    let client = Client::new();
    assert_eq!(
        gateway.get(&client, "pw").await.unwrap().leaf,
        first.cert_der
    );

    let second = new_pair();
    site.rotate(&second);
    let took = wait_cert(&gateway, &client, &second, "pw", Duration::from_secs(1)).await;
    eprintln!("certificate rotation served after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_half_rotation_keeps_the_old_pair_until_the_key_follows() {
    let first = new_pair();
    let site = Site::new(&first, "alice", "pw");
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
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
    assert_eq!(reply.leaf, first.cert_der, "a half-rotated pair was served");

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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&dir.path().join("web.yml"), &upstream, &[]).await;
    let client = Client::new();
    assert_eq!(
        gateway.get(&client, "pw").await.unwrap().leaf,
        first.cert_der
    );

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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(
        &site.yml(),
        &upstream,
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
    let upstream = TestUpstream::demo().await;
    // Neither notify nor a poll within the test's lifetime: only SIGHUP can apply the change.
    let gateway = Gateway::start(
        &site.yml(),
        &upstream,
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
        .and_then(|body| metric(&body, RELOADS_OK))
        .expect("reload counter on /metrics");
    gateway.sighup();
    gateway
        .eventually(
            Duration::from_secs(5),
            "a reload on SIGHUP without changes",
            || async {
                let now = gateway.metrics(&client, "new-pw").await.ok();
                now.and_then(|body| metric(&body, RELOADS_OK))
                    .is_some_and(|n| n > before)
            },
        )
        .await;
}

/// The successful-reload counter's sample name.
const RELOADS_OK: &str = "scrapegate_config_reloads_total{result=\"success\"}";

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
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
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

/// The message of the gateway's log line for a reload it refuses.
const RELOAD_REFUSED: &str = "Reload refused; still serving the previous web config";

/// What Go's `http2.ConfigureServer` says about a suite list without an HTTP/2 suite.
const H2_RULE: &str = "HTTP/2-required AES_128_GCM_SHA256";

/// A web.yml the gateway refuses to start with is refused on reload too: HTTP/2 on, TLS 1.2
/// only and the single suite `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384` (which fits the ECDSA
/// certificate, but Go's HTTP/2 needs an AES-128-GCM suite). The refusal is logged with the
/// file and the rule, `scrapegate_config_last_reload_successful` drops to 0, the gateway keeps
/// serving with the previous settings (TLS 1.3, HTTP/2), and a second gateway started on the
/// same file exits 1 with the same reason: one verdict for start-up and reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_into_a_file_start_up_refuses_keeps_the_previous_generation() {
    let ca = Ca::new("reload e2e CA");
    let server = ca.server(KeyAlg::EcdsaP256);
    let site = Site::new(&server, "alice", "pw");
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let rest = format!(
        "http_server_config:\n  http2: true\nbasic_auth_users:\n  alice: {}\n",
        hash("pw")
    );
    fs::write(site.yml(), format!("{tls}{rest}")).unwrap();
    let upstream = TestUpstream::demo().await;
    let gateway = Gateway::start(&site.yml(), &upstream, &[]).await;
    let client = Client::new();
    let h2 = KitClient::tls(&ca.cert_der, true);
    let auth = [("authorization", basic("alice", "pw"))];

    // Serving: HTTP/2 through the gate, and the last reload (start-up) counted as good.
    let reply = h2.get(gateway.listen, "/metrics", &auth).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.version, hyper::Version::HTTP_2);
    assert_eq!(reply.body.as_bytes(), UPSTREAM_BODY);
    assert!(
        gateway
            .metrics_show(&client, "pw", &reload_ok_line(1))
            .await
    );

    // A file start-up refuses, written the way an operator would.
    let bad = format!(
        "{tls}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n{rest}"
    );
    atomic_write(&site.yml(), bad.as_bytes());
    let logs = gateway.proc.stderr.clone();
    let line = tokio::task::spawn_blocking(move || {
        logs.wait_for(DEADLINE, |l| {
            l.contains("level=error") && log_field(l, "msg").as_deref() == Some(RELOAD_REFUSED)
        })
    })
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no refused reload logged:\n{}", gateway.logs()));
    eprintln!("reload log line: {line}");
    let err = log_field(&line, "err").expect("err field");
    assert!(err.contains(H2_RULE), "{line}");
    assert_eq!(
        log_field(&line, "file").map(PathBuf::from),
        Some(site.yml()),
        "{line}"
    );
    gateway
        .eventually(
            Duration::from_secs(5),
            "the refused reload on /metrics",
            || async {
                gateway
                    .metrics_show(&client, "pw", &reload_ok_line(0))
                    .await
            },
        )
        .await;

    // Still serving with the previous settings: HTTP/2, TLS 1.3 (the refused file caps at
    // 1.2), the same certificate and user.
    let reply = h2.get(gateway.listen, "/metrics", &auth).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.version, hyper::Version::HTTP_2);
    assert_eq!(reply.body.as_bytes(), UPSTREAM_BODY);
    let opts = ClientOpts {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..ClientOpts::default()
    };
    let tls13 = connect(gateway.listen, client_config(&ca.cert_der, &opts))
        .await
        .expect("handshake with the previous settings");
    let (_, session) = tls13.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    let reply = gateway.get(&client, "pw").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.leaf, server.cert_der);

    // The same file at start-up: exit 1 with the same reason.
    let mut second = spawn(
        SCRAPEGATE,
        &[
            format!("--web.config.file={}", site.yml().display()),
            format!("--upstream={}", upstream.url()),
            "--web.listen-address=127.0.0.1:0".to_owned(),
        ],
    );
    let (code, second) = tokio::task::spawn_blocking(move || (second.wait_exit(STARTUP), second))
        .await
        .unwrap();
    let startup = second.stderr.all();
    eprintln!("start-up stderr:\n{startup}");
    assert_eq!(code, Some(1), "{startup}");
    let failed = startup
        .lines()
        .find(|l| log_field(l, "msg").as_deref() == Some("scrapegate failed to start"))
        .unwrap_or_else(|| panic!("no start-up failure logged:\n{startup}"));
    assert_eq!(
        log_field(failed, "err").as_deref(),
        Some(err.as_str()),
        "start-up and reload give different reasons"
    );
    assert!(startup.contains(&format!("scrapegate: {err}")), "{startup}");
}
