//! A real Prometheus scrapes through scrapegate: `scheme: https`, `tls_config.ca_file`,
//! `basic_auth`. The good job must be `up`; the job with a wrong password must be down with a
//! 401 in `lastError`. Skipped loudly when Prometheus is not installed.

use std::time::Duration;

use scrapegate_testkit::prometheus::Prometheus;
use scrapegate_testkit::{TestUpstream, TlsSite, hash, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_through_scrapegate() {
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
    let Some(prom) = Prometheus::start(&prom_yml, &site.file("tsdb")) else {
        return;
    };
    prom.wait_targets(
        &["good", "bad"],
        Duration::from_secs(90),
        || gw.stderr.all(),
        |states| match states {
            [Some(good), Some(bad)] => {
                good.health == "up" && bad.health == "down" && bad.last_error.contains("401")
            }
            _ => false,
        },
    )
    .await;
    // Prometheus scrapes with HTTP/2 when offered; the upstream never saw the credentials
    // (it would have answered a marker body, which fails the good job's parse).
    assert!(up.hits() > 0);
}
