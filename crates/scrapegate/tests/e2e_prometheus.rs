//! A real Prometheus scrapes through scrapegate: `scheme: https`, `tls_config.ca_file`,
//! `basic_auth`. The good job must be `up`; the job with a wrong password must be down with a
//! 401 in `lastError`. Skipped loudly when Prometheus is not installed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use scrapegate_testkit::{Proc, TestUpstream, TlsSite, free_addr, hash, spawn, tool};

/// GET over plain HTTP/1.0 (Prometheus's API on loopback); `None` while it is not up yet.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    tcp.read_to_string(&mut out).ok()?;
    Some(out)
}

/// `(health, lastError)` of the first target of `job` in a `/api/v1/targets` answer.
fn target_state(json: &str, job: &str) -> Option<(String, String)> {
    let chunk = json
        .split("\"scrapePool\":\"")
        .skip(1)
        .find(|c| c.starts_with(&format!("{job}\"")))?;
    let field = |name: &str| -> Option<String> {
        let start = chunk.find(&format!("\"{name}\":\""))? + name.len() + 4;
        let end = start + chunk[start..].find('"')?;
        Some(chunk[start..end].to_string())
    };
    Some((field("health")?, field("lastError").unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_through_scrapegate() {
    let Some(prom_bin) = tool("/usr/bin/prometheus") else {
        return;
    };
    let up = TestUpstream::demo().await;
    let site = TlsSite::new(&format!(
        "basic_auth_users:\n  prometheus: {}\n",
        hash("s3cret")
    ));
    let gw = spawn(
        env!("CARGO_BIN_EXE_scrapegate"),
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", site.web.display()),
            format!("--upstream=http://{}", up.addr),
        ],
    );
    let gw_addr = gw.listening_on();

    let ca = site.file("ca.pem");
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n\
             \x20   basic_auth:\n      username: prometheus\n      password: {password}\n\
             \x20   static_configs:\n      - targets: ['{gw_addr}']\n",
            ca.display()
        )
    };
    let prom_yml = site.file("prometheus.yml");
    std::fs::write(
        &prom_yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
            job("good", "s3cret"),
            job("bad", "wrong")
        ),
    )
    .unwrap();
    let prom_addr = free_addr();
    // Killed on drop (also when an assertion fails).
    let mut prom = Command::new(prom_bin);
    prom.arg(format!("--config.file={}", prom_yml.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            site.file("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .arg("--log.level=warn");
    let _prom = Proc::start(prom);

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    loop {
        if let Some(resp) = http_get(prom_addr, "/api/v1/targets") {
            let good = target_state(&resp, "good");
            let bad = target_state(&resp, "bad");
            if let (Some((gh, _)), Some((bh, be))) = (&good, &bad) {
                if gh == "up" && bh == "down" && be.contains("401") {
                    break;
                }
            }
            last = format!("good={good:?} bad={bad:?}");
        }
        assert!(
            Instant::now() < deadline,
            "targets never reached the expected state: {last}\ngateway log:\n{}",
            gw.stderr.all()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Prometheus scrapes with HTTP/2 when offered; the upstream never saw the credentials
    // (it would have answered a marker body, which fails the good job's parse).
    assert!(up.hits() > 0);
}
