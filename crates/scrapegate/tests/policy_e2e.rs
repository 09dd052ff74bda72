//! End-to-end tests of the policy layer (issue 13): the real `scrapegate` binary with a TLS
//! web.yml and a `scrapegate.yml` beside it, real files on disk, real clients.
//!
//! * a real Prometheus (Debian package) scrapes through the gateway with
//!   `authorization: {type: Bearer, credentials_file: ...}` (up), with a wrong token (down,
//!   401) and with a valid token its route does not admit (down, 403); skipped loudly when
//!   `/usr/bin/prometheus` is missing;
//! * `--log.access`: requests producing every result word, each line's fields checked, and the
//!   raw bytes of the gateway's whole stderr searched for every secret sent;
//! * the web.yml + scrapegate.yml pair reloaded on disk as one generation: a token added, a
//!   user a route names dropped from web.yml (refused, last good pair serving), fixed, and a
//!   bad scrapegate.yml edit refused;
//! * `--route`/`--upstream` together with `routes:` in scrapegate.yml fails start-up.
//!
//! Every wait is deadline-bounded; nothing sleeps to synchronise.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use http::{Method, StatusCode};
use scrapegate_testkit::bearer::{bearer, sha256_hex};
use scrapegate_testkit::files::atomic_write;
use scrapegate_testkit::http_client::{Client, Reply, tls_http1_from};
use scrapegate_testkit::pki::Eku;
use scrapegate_testkit::process::{RawOutput, log_field, run, spawn_keeping_stderr};
use scrapegate_testkit::prometheus::Prometheus;
use scrapegate_testkit::{
    DEADLINE, Proc, STARTUP, TestUpstream, TlsSite, basic, dns, hash, hash_cost, metric,
};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

/// What [`TestUpstream::demo`] answers (it answers a marker instead when it is sent an
/// `Authorization` header, so this body also proves the credentials were not forwarded).
const DEMO_BODY: &str = "demo_metric 1\n";

// Secrets. Every one is distinctive, so finding it anywhere in the log is a leak.
const ALICE_PW: &str = "alice-pw-Xq7Secret";
const BOB_PW: &str = "bob-pw-Xq7Secret";
const CAROL_PW: &str = "carol-pw-Xq7Secret";
const WRONG_PW: &str = "wrong-pw-Xq7Secret";
/// In `tokens/prometheus` (`token_file`).
const PROM_TOKEN: &str = "prometheus-token-7f3a9c1e5b2d4f60";
/// Configured by its `sha256` only.
const GRAFANA_TOKEN: &str = "grafana-token-0c4e8a2f6b1d3957";
/// Matches no configured token.
const WRONG_TOKEN: &str = "wrong-token-9d2b7e4a1c6f3085";
/// Sent as a query string; must never be logged.
const QUERY_SECRET: &str = "secret=query-Xq7Secret";

// ---- the gateway ---------------------------------------------------------------------------

/// The running binary (killed when dropped), the raw bytes of its stderr and its listeners.
struct Gateway {
    proc: Proc,
    raw: RawOutput,
    listen: SocketAddr,
    telemetry: SocketAddr,
}

impl Gateway {
    /// Starts the binary on 127.0.0.1 (main and telemetry listeners on ports of its choosing)
    /// with `args`; returns once it has loaded its configuration and serves.
    fn start(args: &[String]) -> Self {
        let mut all = vec![
            "--web.listen-address=127.0.0.1:0".to_owned(),
            "--web.telemetry-address=127.0.0.1:0".to_owned(),
        ];
        all.extend_from_slice(args);
        let (proc, raw) = spawn_keeping_stderr(SCRAPEGATE, &all);
        let listen = proc.listening_on();
        // Logged after the configuration loaded and the gateway was built.
        let telemetry = proc.address_after("Telemetry listening on");
        Self {
            proc,
            raw,
            listen,
            telemetry,
        }
    }

    fn logs(&self) -> String {
        self.proc.stderr.all()
    }

    /// The first log line with `msg` for which `pred` holds, waited for up to [`DEADLINE`];
    /// panics with the log otherwise.
    fn wait_log(&self, what: &str, msg: &str, pred: impl Fn(&str) -> bool) -> String {
        self.proc
            .stderr
            .wait_for(DEADLINE, |l| {
                log_field(l, "msg").as_deref() == Some(msg) && pred(l)
            })
            .unwrap_or_else(|| panic!("no log line for {what}:\n{}", self.logs()))
    }

    /// The gateway's own metrics (telemetry listener, web.yml protection: `user`/`password`).
    async fn metrics(&self, client: &Client, user: &str, password: &str) -> String {
        let reply = client
            .get(
                self.telemetry,
                "/metrics",
                &[("authorization", basic(user, password))],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "telemetry /metrics");
        reply.body
    }

    /// Stops the gateway (SIGTERM, then waits for it and for its stderr to close); returns
    /// the raw bytes of its whole stderr.
    fn stop(mut self) -> Vec<u8> {
        self.proc.signal(libc::SIGTERM);
        assert_eq!(
            self.proc.wait_exit(STARTUP),
            Some(0),
            "exit after SIGTERM:\n{}",
            self.logs()
        );
        assert!(self.raw.wait_closed(STARTUP), "stderr never closed");
        self.raw.bytes()
    }
}

/// The HTTPS client of a site (HTTP/1.1, trusting its CA).
fn client(site: &TlsSite) -> Client {
    Client::tls(&site.ca.cert_der, false)
}

/// GET `path` on `addr` with an optional `Authorization` value.
async fn get(client: &Client, addr: SocketAddr, path: &str, auth: Option<String>) -> Reply {
    let headers: Vec<(&str, String)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    client.get(addr, path, &headers).await
}

/// The `scrapegate.yml` token list: `prometheus` by `token_file` (written beside it, with the
/// trailing newline a `kubectl create secret --from-file` leaves) and `grafana` by `sha256`.
fn write_tokens(site: &TlsSite) -> String {
    std::fs::create_dir_all(site.file("tokens")).unwrap();
    std::fs::write(site.file("tokens/prometheus"), format!("{PROM_TOKEN}\n")).unwrap();
    format!(
        "bearer_tokens:\n  - name: prometheus\n    token_file: tokens/prometheus\n\
         \x20 - name: grafana\n    sha256: {}\n",
        sha256_hex(GRAFANA_TOKEN)
    )
}

// ---- 1. a real Prometheus with bearer tokens -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_with_bearer_tokens() {
    if scrapegate_testkit::tool(scrapegate_testkit::prometheus::BIN).is_none() {
        return;
    }
    let up = TestUpstream::demo().await;
    let site = TlsSite::new(&format!("basic_auth_users:\n  alice: {}\n", hash(ALICE_PW)));
    let policy = format!(
        "{}routes:\n  - prefix: /\n    upstream: {}/\n    allow:\n      tokens: [prometheus]\n      users: [alice]\n",
        write_tokens(&site),
        up.url()
    );
    std::fs::write(site.file("scrapegate.yml"), policy).unwrap();
    let gw = Gateway::start(&[
        format!("--web.config.file={}", site.web.display()),
        format!("--config.file={}", site.file("scrapegate.yml").display()),
        "--log.access".into(),
    ]);

    // The good job reads its token from a file, as Prometheus users are told to.
    std::fs::write(site.file("prometheus.token"), format!("{PROM_TOKEN}\n")).unwrap();
    let job = |name: &str, authorization: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n\
             \x20   authorization:\n      type: Bearer\n{authorization}\
             \x20   static_configs:\n      - targets: ['{}']\n",
            site.file("ca.pem").display(),
            gw.listen
        )
    };
    let prom_yml = site.file("prometheus.yml");
    std::fs::write(
        &prom_yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}",
            job(
                "bearer_file",
                &format!(
                    "      credentials_file: {}\n",
                    site.file("prometheus.token").display()
                )
            ),
            // Every 5 s: its failures count in the per-source limiter (20 a minute), which
            // would otherwise refuse this Prometheus, valid token included, after 20 s.
            job(
                "wrong_token",
                &format!("      credentials: {WRONG_TOKEN}\n    scrape_interval: 5s\n")
            ),
            job(
                "not_admitted",
                &format!("      credentials: {GRAFANA_TOKEN}\n")
            ),
        ),
    )
    .unwrap();
    let Some(prom) = Prometheus::start(&prom_yml, &site.file("tsdb")) else {
        return;
    };

    let jobs = ["bearer_file", "wrong_token", "not_admitted"];
    let states = prom
        .wait_targets(
            &jobs,
            Duration::from_secs(90),
            || gw.logs(),
            |s| match s {
                [Some(good), Some(wrong), Some(denied)] => {
                    good.health == "up"
                        && wrong.health == "down"
                        && wrong.last_error.contains("401")
                        && denied.health == "down"
                        && denied.last_error.contains("403")
                }
                _ => false,
            },
        )
        .await;
    for (job, state) in jobs.iter().zip(&states) {
        eprintln!(
            "prometheus target {job}: health={} lastError={:?}",
            state.health, state.last_error
        );
    }
    assert_eq!(states[0].last_error, "");
    assert!(
        states[1]
            .last_error
            .contains("server returned HTTP status 401 Unauthorized"),
        "{:?}",
        states[1]
    );
    assert!(
        states[2]
            .last_error
            .contains("server returned HTTP status 403 Forbidden"),
        "{:?}",
        states[2]
    );
    assert!(up.hits() > 0);

    // The gateway's access log tells the three apart by token name and result.
    for (token, status, auth) in [
        ("prometheus", "200", "ok"),
        ("-", "401", "bad_token"),
        ("grafana", "403", "forbidden"),
    ] {
        let line = gw.wait_log(&format!("a {auth} scrape"), "request", |l| {
            log_field(l, "auth").as_deref() == Some(auth)
        });
        eprintln!("{line}");
        assert_eq!(log_field(&line, "token").as_deref(), Some(token), "{line}");
        assert_eq!(
            log_field(&line, "status").as_deref(),
            Some(status),
            "{line}"
        );
        assert_eq!(
            log_field(&line, "path").as_deref(),
            Some("/metrics"),
            "{line}"
        );
    }
    let log = gw.stop();
    assert_no_secrets(&log, &[PROM_TOKEN, GRAFANA_TOKEN, WRONG_TOKEN, ALICE_PW]);
}

// ---- 2. the access log ---------------------------------------------------------------------

/// What one access-log line must say (`bytes` is checked against the body received).
struct Expect<'a> {
    auth: &'a str,
    remote: &'a str,
    method: &'a str,
    path: &'a str,
    route: &'a str,
    status: u16,
    user: &'a str,
    token: &'a str,
    san: &'a str,
}

/// Waits for the access line of `want.path` with result `want.auth` and checks every field.
fn check_line(gw: &Gateway, want: &Expect<'_>, body_len: usize) -> String {
    let line = gw.wait_log(
        &format!("auth={} path={}", want.auth, want.path),
        "request",
        |l| {
            log_field(l, "source").as_deref() == Some("scrapegate::access")
                && log_field(l, "auth").as_deref() == Some(want.auth)
                && log_field(l, "path").as_deref() == Some(want.path)
                && log_field(l, "remote").as_deref() == Some(want.remote)
        },
    );
    let field = |k: &str| log_field(&line, k).unwrap_or_else(|| panic!("no {k}= in {line}"));
    assert_eq!(field("level"), "info", "{line}");
    assert_eq!(field("remote"), want.remote, "{line}");
    assert_eq!(field("listener"), "proxy", "{line}");
    assert_eq!(field("method"), want.method, "{line}");
    assert_eq!(field("route"), want.route, "{line}");
    assert_eq!(field("status"), want.status.to_string(), "{line}");
    assert_eq!(field("bytes"), body_len.to_string(), "{line}");
    assert_eq!(field("user"), want.user, "{line}");
    assert_eq!(field("token"), want.token, "{line}");
    assert_eq!(field("san"), want.san, "{line}");
    let duration = field("duration");
    assert!(
        duration.starts_with(|c: char| c.is_ascii_digit())
            && ["ns", "µs", "us", "ms", "s"]
                .iter()
                .any(|u| duration.ends_with(u)),
        "duration {duration:?} is not a Go duration: {line}"
    );
    assert!(!line.contains('?'), "a query in {line}");
    line
}

/// Asserts that `log` (raw bytes) holds none of `secrets`, no `Authorization` header name in
/// any case, no base64 of any Basic credentials, no token digest and no query string.
fn assert_no_secrets(log: &[u8], secrets: &[&str]) {
    assert!(!log.is_empty(), "an empty log proves nothing");
    let text = String::from_utf8_lossy(log);
    let mut forbidden: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
    for token in [PROM_TOKEN, GRAFANA_TOKEN, WRONG_TOKEN] {
        forbidden.push(token.to_owned());
        forbidden.push(sha256_hex(token));
        forbidden.push(sha256_hex(token).to_uppercase());
    }
    for (user, pw) in [
        ("alice", ALICE_PW),
        ("alice", WRONG_PW),
        ("bob", BOB_PW),
        ("mallory", ALICE_PW),
        ("carol", CAROL_PW),
    ] {
        forbidden.push(basic(user, pw)["Basic ".len()..].to_owned());
    }
    forbidden.extend(["Xq7Secret".to_owned(), QUERY_SECRET.to_owned()]);
    for needle in &forbidden {
        assert!(
            !log.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the log contains {needle:?}:\n{text}"
        );
    }
    assert!(
        !text.to_ascii_lowercase().contains("authorization"),
        "the log names the Authorization header:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_every_result_and_no_secret() {
    let up = TestUpstream::demo().await;
    // carol's hash is dear (cost 12, ~0.2 s a verification): fresh wrong passwords for her
    // from many sources at once fill the bcrypt queue.
    let site = TlsSite::new(&format!(
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n\
         basic_auth_users:\n  alice: {}\n  bob: {}\n  carol: {}\n",
        hash(ALICE_PW),
        hash(BOB_PW),
        hash_cost(CAROL_PW, 12)
    ));
    let policy = format!(
        "{}routes:\n  - prefix: /\n    upstream: {}/\n    allow:\n      users: [alice, carol]\n\
         \x20     tokens: [prometheus]\n      client_sans: [scraper.example]\n\
         \x20     methods: [GET, HEAD]\n    anonymous: [/healthz]\n",
        write_tokens(&site),
        up.url()
    );
    std::fs::write(site.file("scrapegate.yml"), &policy).unwrap();
    let gw = Gateway::start(&[
        format!("--web.config.file={}", site.web.display()),
        format!("--config.file={}", site.file("scrapegate.yml").display()),
        "--log.access".into(),
        "--log.level=debug".into(),
    ]);
    let c = client(&site);
    let scraper_cert = site.ca.client(
        "scraper",
        vec![dns("scraper.example")],
        vec![Eku::ClientAuth],
    );
    let with_cert = c.clone().with_identity(&scraper_cert);
    let local = "127.0.0.1";
    let base = Expect {
        auth: "ok",
        remote: local,
        method: "GET",
        path: "",
        route: "/",
        status: 200,
        user: "-",
        token: "-",
        san: "-",
    };
    let mut shown = Vec::new();

    // ok: Basic (with a query that must not be logged), Bearer, and a client certificate
    // admitting a user the route does not name.
    let r = get(
        &c,
        gw.listen,
        &format!("/ok/basic?{QUERY_SECRET}"),
        Some(basic("alice", ALICE_PW)),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));
    shown.push(check_line(
        &gw,
        &Expect {
            path: "/ok/basic",
            user: "alice",
            ..base
        },
        r.body.len(),
    ));
    let r = get(&c, gw.listen, "/ok/bearer", Some(bearer(PROM_TOKEN))).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));
    shown.push(check_line(
        &gw,
        &Expect {
            path: "/ok/bearer",
            token: "prometheus",
            ..base
        },
        r.body.len(),
    ));
    let r = get(&with_cert, gw.listen, "/ok/san", Some(basic("bob", BOB_PW))).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));
    shown.push(check_line(
        &gw,
        &Expect {
            path: "/ok/san",
            user: "bob",
            san: "scraper.example",
            ..base
        },
        r.body.len(),
    ));

    // anonymous: the listed path without credentials; its sibling needs them (missing).
    let r = get(&c, gw.listen, "/healthz", None).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "anonymous",
            path: "/healthz",
            ..base
        },
        r.body.len(),
    ));
    let r = get(&c, gw.listen, "/healthz/x", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r
        .headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic"))
            && challenges.iter().any(|c| c.starts_with("Bearer")),
        "challenges: {challenges:?}"
    );
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "missing",
            path: "/healthz/x",
            status: 401,
            ..base
        },
        r.body.len(),
    ));

    // bad_password and unknown_user: the same answer to the client.
    let bad = get(
        &c,
        gw.listen,
        &format!("/bad/password?{QUERY_SECRET}"),
        Some(basic("alice", WRONG_PW)),
    )
    .await;
    let unknown = get(&c, gw.listen, "/bad/user", Some(basic("mallory", ALICE_PW))).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (unknown.status, &unknown.body),
        (bad.status, &bad.body),
        "unknown user and wrong password must look the same"
    );
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "bad_password",
            path: "/bad/password",
            status: 401,
            user: "alice",
            ..base
        },
        bad.body.len(),
    ));
    let unknown_line = gw.wait_log("unknown_user", "request", |l| {
        log_field(l, "auth").as_deref() == Some("unknown_user")
    });
    // The claimed name is what an operator needs to see; either way the fields are checked.
    let claimed = log_field(&unknown_line, "user").unwrap();
    assert!(claimed == "mallory" || claimed == "-", "{unknown_line}");
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "unknown_user",
            path: "/bad/user",
            status: 401,
            user: &claimed,
            ..base
        },
        unknown.body.len(),
    ));

    // bad_token.
    let r = get(&c, gw.listen, "/bad/token", Some(bearer(WRONG_TOKEN))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "bad_token",
            path: "/bad/token",
            status: 401,
            ..base
        },
        r.body.len(),
    ));

    // forbidden: a valid user and a valid token the route does not admit.
    let r = get(&c, gw.listen, "/forbidden/user", Some(basic("bob", BOB_PW))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "forbidden",
            path: "/forbidden/user",
            status: 403,
            user: "bob",
            ..base
        },
        r.body.len(),
    ));
    let r = get(
        &c,
        gw.listen,
        "/forbidden/token",
        Some(bearer(GRAFANA_TOKEN)),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "forbidden",
            path: "/forbidden/token",
            status: 403,
            token: "grafana",
            ..base
        },
        r.body.len(),
    ));

    // method: POST outside allow.methods, after authentication; 405 with Allow.
    let r = c
        .request(
            Method::POST,
            gw.listen,
            "/method",
            &[("authorization", basic("alice", ALICE_PW))],
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let allow = r
        .headers
        .get(http::header::ALLOW)
        .map(|v| v.to_str().unwrap());
    assert!(
        allow.is_some_and(|a| a.contains("GET") && a.contains("HEAD")),
        "Allow: {allow:?}"
    );
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "method",
            method: "POST",
            path: "/method",
            status: 405,
            user: "alice",
            ..base
        },
        r.body.len(),
    ));

    // limited: one source's failures (fresh wrong passwords, then a wrong token) until the
    // per-source limiter (20 failures a minute; no flag sets it) refuses it with 429.
    let limited_ip = Ipv4Addr::new(127, 0, 3, 1);
    let mut refused_at = None;
    for n in 1..=25 {
        let auth = if n == 20 {
            bearer(WRONG_TOKEN)
        } else {
            basic("alice", format!("{WRONG_PW}-{n}"))
        };
        // The gateway closes an HTTP/1 connection after a refusal: one connection per attempt.
        let mut conn = tls_http1_from(Some(limited_ip), gw.listen, &site.ca.cert_der)
            .await
            .expect("connect from 127.0.3.1");
        let (status, body) = conn.get("/limited", Some(&auth)).await.expect("answer");
        if status == 429 {
            refused_at = Some((n, body));
            break;
        }
        assert_eq!(status, 401, "failure {n}");
    }
    let (n, body) = refused_at.expect("the failure limiter never refused the source");
    eprintln!("limiter refused attempt {n}");
    assert_eq!(n, 21, "20 failures are allowed, the 21st refused");
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "limited",
            remote: "127.0.3.1",
            path: "/limited",
            status: 429,
            // Refused before the credentials are looked at.
            user: "-",
            ..base
        },
        body.len(),
    ));

    // busy: fresh wrong passwords for carol (cost 12) from many sources at once, each
    // connection set up first so that the requests arrive together: more misses than the
    // pool's threads plus its queue (32) get 503.
    let busy = provoke_busy(&gw, &site).await;
    let (ip, body) = busy.expect("no 503 from a flood of 60 concurrent bcrypt misses");
    shown.push(check_line(
        &gw,
        &Expect {
            auth: "busy",
            remote: &ip.to_string(),
            path: "/busy",
            status: 503,
            // Refused before the credentials are looked at.
            user: "-",
            ..base
        },
        body.len(),
    ));

    // rate_limited: a second gateway whose web.yml has a rate_limit of one request.
    let (rl_line, rl_log) = rate_limited_line(&up).await;
    shown.push(rl_line);

    eprintln!("--- one access-log line per result ---");
    for line in &shown {
        eprintln!("{line}");
    }
    for word in [
        "ok",
        "anonymous",
        "missing",
        "bad_password",
        "unknown_user",
        "bad_token",
        "forbidden",
        "method",
        "limited",
        "rate_limited",
        "busy",
    ] {
        assert!(
            shown
                .iter()
                .any(|l| log_field(l, "auth").as_deref() == Some(word)),
            "no line with auth={word}"
        );
    }

    let log = gw.stop();
    assert_no_secrets(&log, &[ALICE_PW, BOB_PW, CAROL_PW, WRONG_PW]);
    assert_no_secrets(&rl_log, &[ALICE_PW]);
}

/// Floods `gw` with concurrent bcrypt misses (wrong passwords for carol, 3 per source from
/// 20 sources, under the per-source cap of 4) until one is refused with 503; up to three
/// rounds, each from fresh sources. Returns the source and body of a 503.
async fn provoke_busy(gw: &Gateway, site: &TlsSite) -> Option<(Ipv4Addr, String)> {
    for round in 0u8..3 {
        let mut conns = Vec::new();
        for host in 1..=20u8 {
            let ip = Ipv4Addr::new(127, 0, 10 + round, host);
            for _ in 0..3 {
                let conn = tls_http1_from(Some(ip), gw.listen, &site.ca.cert_der)
                    .await
                    .expect("connect a flooder");
                conns.push((ip, conn));
            }
        }
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, (ip, mut conn))| {
                tokio::spawn(async move {
                    let auth = basic("carol", format!("{WRONG_PW}-flood-{round}-{i}"));
                    let answer = conn.get("/busy", Some(&auth)).await.expect("answer");
                    (ip, answer)
                })
            })
            .collect();
        let mut counts = std::collections::BTreeMap::new();
        let mut busy = None;
        for t in tasks {
            let (ip, (status, body)) = t.await.expect("flooder");
            *counts.entry(status).or_insert(0u32) += 1;
            if status == 503 && busy.is_none() {
                busy = Some((ip, body));
            }
        }
        eprintln!("busy flood round {round}: statuses {counts:?}");
        if busy.is_some() {
            return busy;
        }
    }
    None
}

/// A second gateway whose web.yml allows one request per hour in all: the first is served,
/// the second refused with 429 (`rate_limited`). Returns that line (fields checked) and the
/// raw bytes of the gateway's whole stderr.
async fn rate_limited_line(up: &TestUpstream) -> (String, Vec<u8>) {
    let site = TlsSite::new(&format!(
        "rate_limit:\n  burst: 1\n  interval: 1h\nbasic_auth_users:\n  alice: {}\n",
        hash(ALICE_PW)
    ));
    let gw = Gateway::start(&[
        format!("--web.config.file={}", site.web.display()),
        format!("--upstream={}", up.url()),
        "--log.access".into(),
    ]);
    let c = client(&site);
    let first = get(&c, gw.listen, "/first", Some(basic("alice", ALICE_PW))).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = get(
        &c,
        gw.listen,
        &format!("/second?{QUERY_SECRET}"),
        Some(basic("alice", ALICE_PW)),
    )
    .await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    let line = gw.wait_log("rate_limited", "request", |l| {
        log_field(l, "auth").as_deref() == Some("rate_limited")
    });
    let user = log_field(&line, "user").unwrap();
    let line = check_line(
        &gw,
        &Expect {
            auth: "rate_limited",
            remote: "127.0.0.1",
            method: "GET",
            path: "/second",
            route: "/",
            status: 429,
            user: &user,
            token: "-",
            san: "-",
        },
        second.body.len(),
    );
    (line, gw.stop())
}

// ---- 3. reloads of the pair on disk --------------------------------------------------------

fn reload_web_yml(site: &TlsSite, users: &[(&str, &str)]) -> String {
    let mut yml =
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n"
            .to_owned();
    for (user, pw) in users {
        yml.push_str(&format!("  {user}: {}\n", hash(pw)));
    }
    atomic_write(&site.web, yml.as_bytes());
    yml
}

/// A scrapegate.yml naming alice and bob on its only route, with the token `ci` when `token`
/// and with `methods` as given.
fn reload_policy(up: &TestUpstream, token: bool, methods: &str) -> String {
    let tokens = if token {
        format!(
            "bearer_tokens:\n  - name: ci\n    sha256: {}\n",
            sha256_hex(GRAFANA_TOKEN)
        )
    } else {
        String::new()
    };
    let allow_tokens = if token { "      tokens: [ci]\n" } else { "" };
    format!(
        "{tokens}routes:\n  - prefix: /\n    upstream: {}/\n    allow:\n      users: [alice, bob]\n\
         {allow_tokens}      methods: [{methods}]\n",
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_of_the_pair_on_disk() {
    let up = TestUpstream::demo().await;
    let site = TlsSite::new(&format!(
        "basic_auth_users:\n  alice: {}\n  bob: {}\n",
        hash(ALICE_PW),
        hash(BOB_PW)
    ));
    let policy_path = site.file("scrapegate.yml");
    std::fs::write(&policy_path, reload_policy(&up, false, "GET")).unwrap();
    let gw = Gateway::start(&[
        format!("--web.config.file={}", site.web.display()),
        format!("--config.file={}", policy_path.display()),
    ]);
    let c = client(&site);
    let status = |auth: String| {
        let c = c.clone();
        let addr = gw.listen;
        async move { get(&c, addr, "/metrics", Some(auth)).await.status }
    };
    let reload_ok = |generation: u64| {
        move |l: &str| log_field(l, "generation").as_deref() == Some(&generation.to_string())
    };
    assert_eq!(status(basic("bob", BOB_PW)).await, StatusCode::OK);
    assert_eq!(
        status(bearer(GRAFANA_TOKEN)).await,
        StatusCode::UNAUTHORIZED,
        "no token configured yet"
    );

    // (a) a token added to scrapegate.yml (atomic rename): served after the reload.
    atomic_write(&policy_path, reload_policy(&up, true, "GET").as_bytes());
    let line = gw.wait_log("reload (a)", "Reloaded the web config", reload_ok(2));
    eprintln!("(a) {line}");
    let r = get(&c, gw.listen, "/metrics", Some(bearer(GRAFANA_TOKEN))).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));

    // (b) web.yml drops bob, whom the route names: the pair is refused, the last good pair
    // keeps serving (bob included).
    reload_web_yml(&site, &[("alice", ALICE_PW)]);
    let failed = "Reload failed; still serving the previous web config";
    let line = gw.wait_log("the refused pair", failed, |l| {
        log_field(l, "err").is_some_and(|e| e.contains("bob"))
    });
    eprintln!("(b) {line}");
    let err = log_field(&line, "err").unwrap();
    for want in [
        policy_path.to_str().unwrap(),
        "routes[0]",
        "prefix /",
        "allow.users",
        "\"bob\"",
        site.web.to_str().unwrap(),
    ] {
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    let m = gw.metrics(&c, "alice", ALICE_PW).await;
    assert_eq!(
        metric(&m, "scrapegate_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "scrapegate_config_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );
    assert_eq!(status(basic("bob", BOB_PW)).await, StatusCode::OK);
    assert_eq!(status(bearer(GRAFANA_TOKEN)).await, StatusCode::OK);

    // (c) fixed (bob back, with a new password): loads, and the new web.yml is the one served.
    let bob_new = "bob-new-pw-Xq7Secret";
    reload_web_yml(&site, &[("alice", ALICE_PW), ("bob", bob_new)]);
    let line = gw.wait_log("reload (c)", "Reloaded the web config", reload_ok(3));
    eprintln!("(c) {line}");
    assert_eq!(status(basic("bob", bob_new)).await, StatusCode::OK);
    assert_eq!(status(basic("bob", BOB_PW)).await, StatusCode::UNAUTHORIZED);
    let m = gw.metrics(&c, "alice", ALICE_PW).await;
    assert_eq!(
        metric(&m, "scrapegate_config_last_reload_successful"),
        Some(1.0)
    );

    // (d) a bad scrapegate.yml edit (a lowercase method): refused with the file, the route
    // and the field named; the last good pair stays.
    atomic_write(&policy_path, reload_policy(&up, true, "get").as_bytes());
    let line = gw.wait_log("the refused scrapegate.yml", failed, |l| {
        log_field(l, "err").is_some_and(|e| e.contains("methods"))
    });
    eprintln!("(d) {line}");
    let err = log_field(&line, "err").unwrap();
    for want in [
        policy_path.to_str().unwrap(),
        "routes[0]",
        "allow.methods",
        "\"get\"",
    ] {
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    let m = gw.metrics(&c, "alice", ALICE_PW).await;
    assert_eq!(
        metric(&m, "scrapegate_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "scrapegate_config_reloads_total{result=\"failure\"}"),
        Some(2.0)
    );
    assert_eq!(status(basic("bob", bob_new)).await, StatusCode::OK);
    assert_eq!(status(bearer(GRAFANA_TOKEN)).await, StatusCode::OK);
    let r = c
        .request(
            Method::POST,
            gw.listen,
            "/metrics",
            &[("authorization", basic("alice", ALICE_PW))],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "the old methods rule"
    );
}

// ---- 4. flags and file both giving routes --------------------------------------------------

/// Runs the binary to completion (bounded) with `args`; returns its exit code and stderr.
fn run_gateway(args: &[String]) -> (Option<i32>, String) {
    let out = run(Command::new(SCRAPEGATE).args(args), b"", STARTUP);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_flags_with_file_routes_fail_startup() {
    let site = TlsSite::new(&format!("basic_auth_users:\n  alice: {}\n", hash(ALICE_PW)));
    let with_routes = site.file("with-routes.yml");
    std::fs::write(
        &with_routes,
        "routes:\n  - prefix: /node\n    upstream: http://127.0.0.1:9/\n",
    )
    .unwrap();
    let common = |policy: &Path| {
        vec![
            "--web.listen-address=127.0.0.1:0".to_owned(),
            format!("--web.config.file={}", site.web.display()),
            format!("--config.file={}", policy.display()),
        ]
    };
    for flag in [
        "--route=/x=http://127.0.0.1:9/",
        "--upstream=http://127.0.0.1:9",
    ] {
        let mut args = common(&with_routes);
        args.push(flag.to_owned());
        let (code, stderr) = run_gateway(&args);
        eprintln!("{flag}: exit {code:?}\n{stderr}");
        assert_eq!(code, Some(1), "{flag}: {stderr}");
        assert!(
            stderr.contains(
                "routes are given both by --upstream/--route and by the routes of --config.file"
            ),
            "{flag}: {stderr}"
        );
    }

    // A scrapegate.yml without routes goes with the flags' routes.
    let tokens_only = site.file("tokens-only.yml");
    std::fs::write(
        &tokens_only,
        format!(
            "bearer_tokens:\n  - name: ci\n    sha256: {}\n",
            sha256_hex(PROM_TOKEN)
        ),
    )
    .unwrap();
    let up = TestUpstream::demo().await;
    let mut args = common(&tokens_only);
    args.push(format!("--upstream={}", up.url()));
    args.retain(|a| a != "--web.listen-address=127.0.0.1:0");
    let gw = Gateway::start(&args);
    let r = get(
        &client(&site),
        gw.listen,
        "/metrics",
        Some(bearer(PROM_TOKEN)),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, DEMO_BODY));
}
