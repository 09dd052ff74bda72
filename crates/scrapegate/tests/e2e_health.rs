//! The real binary's health listener (`--web.health-address`) and `scrapegate healthcheck`,
//! with a web.yml that requires TLS, verified client certificates and basic auth: the probe
//! paths answer in plain HTTP without any credential, nothing else does, and the main listener
//! still refuses every request that lacks one of the three.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use scrapegate_testkit::http_client::raw;
use scrapegate_testkit::process::run;
use scrapegate_testkit::tls_client::{ClientOpts, client_config, connect};
use scrapegate_testkit::{
    Ca, DEADLINE, Http1, Leaf, Proc, STARTUP, TestUpstream, TlsSite, basic, dns, free_addr, hash,
    spawn,
};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

/// The gateway under test: TLS with `RequireAndVerifyClientCert`, user `dave`, a configured
/// header, an upstream that counts hits, and the health listener on loopback.
struct Guarded {
    proc: Proc,
    main: SocketAddr,
    health: SocketAddr,
    up: TestUpstream,
    /// A client certificate issued by the CA in `client-ca.pem`.
    client: Leaf,
    site: TlsSite,
}

async fn start_guarded() -> Guarded {
    let up = TestUpstream::demo().await;
    let site = TlsSite::new(&format!(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
         basic_auth_users:\n  dave: {}\n",
        hash("dave123")
    ));
    let client_ca = Ca::new("e2e client CA");
    client_ca.write(&site.file("client-ca.pem"));
    let client = client_ca.client("prometheus", vec![dns("prometheus")], vec![]);
    let proc = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.health-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", site.web.display()),
            format!("--upstream=http://{}", up.addr),
        ],
    );
    let main = proc.listening_on();
    let health = proc.address_after("Health listening on");
    Guarded {
        proc,
        main,
        health,
        up,
        client,
        site,
    }
}

/// GET `/metrics` over TLS (trusting the test CA) with an optional client certificate and
/// optional `Authorization`; `Err` when the TLS or HTTP exchange fails.
async fn tls_get(
    g: &Guarded,
    with_cert: bool,
    auth: Option<(&str, &str)>,
) -> Result<(u16, String), String> {
    let opts = ClientOpts {
        cert: with_cert.then(|| g.client.clone()),
        ..ClientOpts::default()
    };
    let cfg = client_config(&g.site.ca.cert_der, &opts);
    let exchange = async {
        let tls = connect(g.main, cfg)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let mut conn = Http1::handshake(tls).await.map_err(|e| e.to_string())?;
        let auth = auth.map(|(user, password)| basic(user, password));
        conn.get("/metrics", auth.as_deref())
            .await
            .map_err(|e| format!("request: {e}"))
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| format!("no answer within {DEADLINE:?}"))?
}

/// Runs `scrapegate healthcheck ARGS` to completion (bounded); returns its exit code and
/// stderr.
fn healthcheck(args: &[&str]) -> (i32, String) {
    let out = run(
        Command::new(SCRAPEGATE).arg("healthcheck").args(args),
        b"",
        DEADLINE,
    );
    (
        out.status.code().expect("exited by a signal"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    assert_eq!(g.up.hits(), 0, "the health listener reached the upstream");
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
    assert_eq!(g.up.hits(), 1);
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
    let closed = free_addr();
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
    let p = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.health-address=0.0.0.0:0".into(),
            "--upstream=http://127.0.0.1:9".into(),
        ],
    );
    let line = p
        .stderr
        .wait_for(STARTUP, |l| {
            l.contains("level=warn") && l.contains("health listener is not on loopback")
        })
        .unwrap_or_else(|| panic!("no warning:\n{}", p.stderr.all()));
    assert!(line.contains("address=0.0.0.0:"), "{line}");
}
