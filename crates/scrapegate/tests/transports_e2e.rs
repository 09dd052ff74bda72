//! End-to-end tests of upstream transports (issue 14): the real `scrapegate` binary, a
//! `scrapegate.yml` on disk routing to real upstreams in this process.
//!
//! * `https://` upstreams: signed by the configured private CA (200), by another CA (502,
//!   `kind="tls"`), for another name (502), requiring a client certificate with and without
//!   `cert_file` (200 / 502); the log names each reason, and pooled connections mean few
//!   handshakes;
//! * the upstream CA and the client certificate rotated on disk while requests flow: every
//!   request that starts after the reload is served, with no restart;
//! * a unix-socket upstream: 200, socket removed: 502 (`kind="unreachable"`), back: 200;
//! * a reload that leaves a TLS route as it was keeps its pooled connection (no handshake).
//!
//! Every wait is deadline-bounded; nothing sleeps to synchronise.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::StatusCode;
use scrapegate_testkit::files::{atomic_write, k8s_publish};
use scrapegate_testkit::http_client::Client;
use scrapegate_testkit::pki::{Ca, KeyAlg, Leaf, LeafSpec};
use scrapegate_testkit::process::{Proc, log_field, spawn};
use scrapegate_testkit::tls_upstream::{TlsUpstream, UnixUpstream, server_config};
use scrapegate_testkit::upstream::UpstreamOptions;
use scrapegate_testkit::{DEADLINE, dns, metric};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");
const BODY: &str = "upstream_metric 1\n";

fn options() -> UpstreamOptions {
    UpstreamOptions {
        body: BODY.into(),
        ..UpstreamOptions::default()
    }
}

/// The binary on plain HTTP with `--config.file` only (no web.yml: no credentials needed).
struct Gateway {
    proc: Proc,
    listen: SocketAddr,
    telemetry: SocketAddr,
}

impl Gateway {
    fn start(config: &Path) -> Self {
        let proc = spawn(
            SCRAPEGATE,
            &[
                "--web.listen-address=127.0.0.1:0".to_owned(),
                "--web.telemetry-address=127.0.0.1:0".to_owned(),
                format!("--config.file={}", config.display()),
            ],
        );
        let listen = proc.listening_on();
        let telemetry = proc.address_after("Telemetry listening on");
        Self {
            proc,
            listen,
            telemetry,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let reply = Client::plain().get(self.listen, path, &[]).await;
        (reply.status, reply.body)
    }

    async fn metrics(&self) -> String {
        Client::plain()
            .get(self.telemetry, "/metrics", &[])
            .await
            .body
    }

    /// The log line `msg` whose fields satisfy `pred`, waited for up to [`DEADLINE`].
    fn wait_log(&self, msg: &str, pred: impl Fn(&str) -> bool) -> String {
        self.proc
            .stderr
            .wait_for(DEADLINE, |l| {
                log_field(l, "msg").as_deref() == Some(msg) && pred(l)
            })
            .unwrap_or_else(|| panic!("no {msg:?} log line:\n{}", self.proc.stderr.all()))
    }

    fn wait_generation(&self, generation: u64) {
        self.wait_log("Reloaded the web config", |l| {
            log_field(l, "generation").as_deref() == Some(&generation.to_string())
        });
    }
}

fn upstream_errors(metrics: &str, kind: &str) -> f64 {
    metric(
        metrics,
        &format!("scrapegate_upstream_errors_total{{kind=\"{kind}\"}}"),
    )
    .unwrap_or(0.0)
}

/// A route block for scrapegate.yml.
fn route(prefix: &str, upstream: &str, extra: &str) -> String {
    format!("  - prefix: {prefix}\n    upstream: {upstream}/\n{extra}")
}

fn issue_for(ca: &Ca, name: &str) -> Leaf {
    ca.issue(&LeafSpec {
        sans: vec![dns(name)],
        ..LeafSpec::server(KeyAlg::EcdsaP256)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_verify_ca_name_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_ca = Ca::new("Upstream Root");
    let wrong_ca = Ca::new("Wrong Root");
    let client_ca = Ca::new("Gateway Clients");
    let gateway_client = client_ca.client("gateway", vec![dns("gateway.example")], vec![]);
    upstream_ca.write(&dir.path().join("upstream-ca.pem"));
    gateway_client.write(dir.path(), "gateway");

    let good = TlsUpstream::start(
        server_config(&upstream_ca.server(KeyAlg::EcdsaP256), None),
        options(),
    )
    .await;
    let wrong = TlsUpstream::start(
        server_config(&wrong_ca.server(KeyAlg::EcdsaP256), None),
        options(),
    )
    .await;
    let other_name = TlsUpstream::start(
        server_config(&issue_for(&upstream_ca, "other.example"), None),
        options(),
    )
    .await;
    let mtls = TlsUpstream::start(
        server_config(&upstream_ca.server(KeyAlg::EcdsaP256), Some(&client_ca)),
        options(),
    )
    .await;
    let ca = "    upstream_tls:\n      ca_file: upstream-ca.pem\n";
    let with_cert = format!("{ca}      cert_file: gateway.crt\n      key_file: gateway.key\n");
    let yaml = format!(
        "routes:\n{}{}{}{}{}",
        route("/good", &good.url(), ca),
        route("/wrong-ca", &wrong.url(), ca),
        route("/other-name", &other_name.url(), ca),
        route("/mtls", &mtls.url(), &with_cert),
        route("/mtls-no-cert", &mtls.url(), ca),
    );
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(&config, yaml).unwrap();
    let gw = Gateway::start(&config);

    for _ in 0..20 {
        assert_eq!(gw.get("/good/metrics").await, (StatusCode::OK, BODY.into()));
    }
    // Pooled and kept alive: 20 requests, one handshake (two if the pool raced).
    assert!(good.handshakes() <= 2, "{} handshakes", good.handshakes());
    assert_eq!(gw.get("/mtls/metrics").await, (StatusCode::OK, BODY.into()));

    for (path, msg, reason) in [
        (
            "/wrong-ca/metrics",
            "upstream TLS handshake failed",
            "route=/wrong-ca reason=\"invalid peer certificate: UnknownIssuer\"",
        ),
        (
            "/other-name/metrics",
            "upstream TLS handshake failed",
            "route=/other-name reason=\"invalid peer certificate: certificate not valid for name",
        ),
        (
            "/mtls-no-cert/metrics",
            "upstream TLS connection failed",
            "route=/mtls-no-cert reason=",
        ),
    ] {
        let (status, body) = gw.get(path).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{path}: {body}");
        // The gateway's own certificate never stands in: the body is the gateway's 502 text.
        assert!(!body.contains(BODY), "{path}: {body}");
        gw.wait_log(msg, |l| l.contains(reason));
    }
    assert_eq!(wrong.hits() + other_name.hits(), 0);
    let metrics = gw.metrics().await;
    // The TLS 1.3 refusal of a missing client certificate arrives after the client finished
    // its handshake (on the first read); it is a TLS failure all the same.
    assert!(upstream_errors(&metrics, "tls") >= 3.0, "{metrics}");
    assert_eq!(upstream_errors(&metrics, "unreachable"), 0.0, "{metrics}");
    assert!(
        metric(
            &metrics,
            "scrapegate_upstream_tls_handshakes_total{route=\"/good\"}"
        )
        .is_some_and(|n| n <= 2.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_ca_and_client_certificate_rotate_on_disk_while_requests_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, ca2) = (Ca::new("Upstream Root 1"), Ca::new("Upstream Root 2"));
    let (clients1, clients2) = (Ca::new("Clients 1"), Ca::new("Clients 2"));
    let client1 = clients1.client("gateway", vec![dns("gateway.example")], vec![]);
    let client2 = clients2.client("gateway", vec![dns("gateway.example")], vec![]);
    // A Kubernetes Secret volume: the three files change together in one `..data` swap.
    let secret = dir.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    let publish = |stamp: &str, ca: &Ca, client: &Leaf| {
        k8s_publish(
            &secret,
            stamp,
            &[
                ("ca.pem", &ca.cert_pem),
                ("client.crt", &client.cert_pem),
                ("client.key", &client.key_pem),
            ],
        );
    };
    publish("one", &ca1, &client1);
    let upstream = TlsUpstream::start(
        server_config(&ca1.server(KeyAlg::EcdsaP256), Some(&clients1)),
        options(),
    )
    .await;
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(
        &config,
        format!(
            "routes:\n{}",
            route(
                "/",
                &upstream.url(),
                "    upstream_tls:\n      ca_file: secret/ca.pem\n      cert_file: secret/client.crt\n      key_file: secret/client.key\n",
            )
        ),
    )
    .unwrap();
    let gw = Arc::new(Gateway::start(&config));
    assert_eq!(gw.get("/metrics").await.0, StatusCode::OK);

    // Requests flow from two tasks for the whole test; each records when it started.
    let results: Arc<Mutex<Vec<(Instant, StatusCode)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flows = Vec::new();
    for _ in 0..2 {
        let (gw, results, stop) = (Arc::clone(&gw), Arc::clone(&results), Arc::clone(&stop));
        flows.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                let (status, _) = gw.get("/metrics").await;
                results.lock().unwrap().push((started, status));
            }
        }));
    }
    let before = results.lock().unwrap().len();
    scrapegate_testkit::wait_until_async("requests flowing", DEADLINE, || {
        results.lock().unwrap().len() > before + 20
    })
    .await;

    // The upstream moves to a certificate from CA 2 and accepts only clients of CA 2; the
    // gateway's secret follows. Requests in between may fail (the old trust meets the new
    // upstream); from the reload on, none may.
    upstream.set_tls(server_config(
        &ca2.server(KeyAlg::EcdsaP256),
        Some(&clients2),
    ));
    publish("two", &ca2, &client2);
    gw.wait_generation(2);
    let switched = Instant::now();
    let at_switch = results.lock().unwrap().len();
    scrapegate_testkit::wait_until_async("requests after the switch", DEADLINE, || {
        results.lock().unwrap().len() > at_switch + 50
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for flow in flows {
        flow.await.unwrap();
    }
    let results = results.lock().unwrap();
    let after: Vec<StatusCode> = results
        .iter()
        .filter(|(started, _)| *started > switched)
        .map(|(_, status)| *status)
        .collect();
    assert!(
        after.len() >= 50,
        "{} requests after the switch",
        after.len()
    );
    assert!(
        after.iter().all(|s| *s == StatusCode::OK),
        "a request failed after the switch: {after:?}"
    );
    assert!(
        upstream.handshakes() >= 2,
        "the new certificate was never used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_upstream_comes_and_goes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("exporter.sock");
    let mut upstream = UnixUpstream::start(&socket, options());
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(
        &config,
        format!(
            "routes:\n{}",
            route(
                "/sock",
                "http://localhost",
                &format!("    unix_socket: {}\n", socket.display()),
            )
        ),
    )
    .unwrap();
    let gw = Gateway::start(&config);
    assert_eq!(gw.get("/sock/metrics").await, (StatusCode::OK, BODY.into()));
    assert_eq!(upstream.hits(), 1);

    upstream.stop();
    assert_eq!(gw.get("/sock/metrics").await.0, StatusCode::BAD_GATEWAY);
    gw.wait_log("upstream connection failed", |l| {
        l.contains("does not exist") || l.contains("connection refused")
    });
    assert_eq!(upstream_errors(&gw.metrics().await, "unreachable"), 1.0);

    upstream.resume();
    assert_eq!(gw.get("/sock/metrics").await, (StatusCode::OK, BODY.into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_leaves_a_tls_route_unchanged_keeps_its_connections() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Upstream Root");
    ca.write(&dir.path().join("ca.pem"));
    let upstream = TlsUpstream::start(
        server_config(&ca.server(KeyAlg::EcdsaP256), None),
        options(),
    )
    .await;
    let tls_route = route(
        "/secure",
        &upstream.url(),
        "    upstream_tls:\n      ca_file: ca.pem\n",
    );
    let config = dir.path().join("scrapegate.yml");
    std::fs::write(&config, format!("routes:\n{tls_route}")).unwrap();
    let gw = Gateway::start(&config);
    for _ in 0..5 {
        assert_eq!(gw.get("/secure/metrics").await.0, StatusCode::OK);
    }
    let before = upstream.handshakes();
    assert_eq!(before, 1, "sequential requests share one pooled connection");

    // Another route is added; the TLS route's URL and files are as they were.
    atomic_write(
        &config,
        format!(
            "routes:\n{tls_route}{}",
            route("/other", "http://127.0.0.1:1", "")
        )
        .as_bytes(),
    );
    gw.wait_generation(2);
    for _ in 0..5 {
        assert_eq!(gw.get("/secure/metrics").await.0, StatusCode::OK);
    }
    assert_eq!(
        upstream.handshakes(),
        before,
        "the reload reopened the pool"
    );
    assert_eq!(upstream.hits(), 10);
}
