//! End-to-end tests of client certificate revocation (issue 14): the real binary serving TLS
//! with `RequireAndVerifyClientCert`, a `scrapegate.yml` whose `tls.client_crl_files` names a
//! CRL on disk, real rustls clients.
//!
//! * the revoked client is refused at the handshake, another admitted;
//! * the CRL file is rewritten to revoke the second client: the watcher reloads it, and the
//!   second client's new handshakes and its saved TLS 1.3 session are refused, while a third
//!   client resumes as before; `scrapegate_tls_crl_next_update_seconds` reports the list;
//! * `check config` refuses a CRL from another CA, naming the file.
//!
//! (Every resumption kind is covered against the acceptor itself in the TLS crate's
//! `revocation` test.) Every wait is deadline-bounded; nothing sleeps to synchronise.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use scrapegate_testkit::files::atomic_write;
use scrapegate_testkit::http_client::Client;
use scrapegate_testkit::pki::Leaf;
use scrapegate_testkit::process::{Proc, log_field, run, spawn};
use scrapegate_testkit::resume::{ResumeKind, client_resumed};
use scrapegate_testkit::tls_client::{ClientOpts, client_config, connect};
use scrapegate_testkit::{Ca, DEADLINE, STARTUP, TestUpstream, TlsSite, dns, metric};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

/// One request on a new connection with `cfg`: `Ok(resumed)` when answered 200, `Err` with
/// what went wrong otherwise (refused at the handshake, or the connection closed).
async fn scrape(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Result<bool, String> {
    let mut stream = connect(addr, cfg)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let resumed = client_resumed(&stream);
    let request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = Vec::new();
    let exchange = async {
        stream.write_all(request).await?;
        stream.read_to_end(&mut answer).await
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Err(_) => Err("no answer within the deadline".into()),
        Ok(Err(e)) => Err(format!("after the handshake (resumed: {resumed}): {e}")),
        Ok(Ok(_)) if answer.starts_with(b"HTTP/1.1 200") => Ok(resumed),
        Ok(Ok(_)) => Err(format!(
            "answered: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        )),
    }
}

fn with_cert(site: &TlsSite, leaf: &Leaf) -> Arc<rustls::ClientConfig> {
    let opts = ClientOpts {
        cert: Some(leaf.clone()),
        ..Default::default()
    };
    client_config(&site.ca.cert_der, &opts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_revokes_at_handshake_and_on_resumption_after_a_reload() {
    let upstream = TestUpstream::demo().await;
    let site =
        TlsSite::new("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n");
    let client = |cn: &str| {
        site.ca
            .client(cn, vec![dns(&format!("{cn}.example"))], vec![])
    };
    let (first, second, kept) = (client("first"), client("second"), client("kept"));
    let crl = site.file("scrapers.crl.pem");
    std::fs::write(&crl, site.ca.crl(&[&first], false)).unwrap();
    let config = site.file("scrapegate.yml");
    std::fs::write(
        &config,
        format!(
            "routes:\n  - prefix: /\n    upstream: {}\ntls:\n  client_crl_files: [scrapers.crl.pem]\n",
            upstream.url()
        ),
    )
    .unwrap();
    let proc: Proc = spawn(
        SCRAPEGATE,
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.telemetry-address=127.0.0.1:0".into(),
            format!("--web.config.file={}", site.web.display()),
            format!("--config.file={}", config.display()),
        ],
    );
    let addr = proc.listening_on();
    let telemetry = proc.address_after("Telemetry listening on");

    let refused = scrape(addr, with_cert(&site, &first)).await;
    assert!(refused.is_err(), "the revoked client was served");
    assert_eq!(scrape(addr, with_cert(&site, &second)).await, Ok(false));

    // TLS 1.3 sessions of `second` and `kept`, saved while both are good.
    let ticket = |leaf: &Leaf| {
        let opts = ClientOpts {
            cert: Some(leaf.clone()),
            ..Default::default()
        };
        ResumeKind::Tls13Ticket.client(&site.ca.cert_der, &opts)
    };
    let (second_session, kept_session) = (ticket(&second), ticket(&kept));
    assert_eq!(scrape(addr, second_session.clone()).await, Ok(false));
    assert_eq!(scrape(addr, kept_session.clone()).await, Ok(false));

    // The telemetry listener serves the same TLS, client certificates included.
    let metrics = Client::tls(&site.ca.cert_der, false)
        .with_identity(&kept)
        .get(telemetry, "/metrics", &[])
        .await
        .body;
    let gauge = format!(
        "scrapegate_tls_crl_next_update_seconds{{file=\"{}\"}}",
        crl.display()
    );
    assert_eq!(metric(&metrics, &gauge), Some(4_070_908_800.0), "{metrics}");

    // The list is rewritten on disk to revoke `second` too.
    atomic_write(&crl, site.ca.crl(&[&first, &second], false).as_bytes());
    proc.stderr
        .wait_for(DEADLINE, |l| {
            log_field(l, "msg").as_deref() == Some("Reloaded the web config")
                && log_field(l, "generation").as_deref() == Some("2")
        })
        .unwrap_or_else(|| panic!("no reload:\n{}", proc.stderr.all()));

    let resumed = scrape(addr, second_session).await;
    assert!(
        resumed.as_ref().is_err_and(|e| e.contains("resumed: true")),
        "the revoked client's saved session: {resumed:?}"
    );
    assert!(scrape(addr, with_cert(&site, &second)).await.is_err());
    assert_eq!(scrape(addr, kept_session).await, Ok(true), "kept resumes");
    assert_eq!(scrape(addr, with_cert(&site, &kept)).await, Ok(false));
}

#[test]
fn check_config_refuses_a_crl_from_another_ca() {
    let site =
        TlsSite::new("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n");
    let other = Ca::new("Someone Else");
    std::fs::write(site.file("other.crl.pem"), other.crl(&[], false)).unwrap();
    let config = site.file("scrapegate.yml");
    std::fs::write(&config, "tls:\n  client_crl_files: [other.crl.pem]\n").unwrap();
    let out = run(
        Command::new(SCRAPEGATE).args([
            "check".into(),
            "config".into(),
            config.display().to_string(),
            format!("--web.config.file={}", site.web.display()),
        ]),
        b"",
        STARTUP,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "{} FAILED: tls.client_crl_files: {} is issued by CN=Someone Else, which is not a CA of client_ca_file",
            config.display(),
            site.file("other.crl.pem").display()
        )
    );
    // The CA's own list passes.
    std::fs::write(site.file("own.crl.pem"), site.ca.crl(&[], false)).unwrap();
    std::fs::write(&config, "tls:\n  client_crl_files: [own.crl.pem]\n").unwrap();
    let out = run(
        Command::new(SCRAPEGATE).args([
            "check".into(),
            "config".into(),
            config.display().to_string(),
            format!("--web.config.file={}", site.web.display()),
        ]),
        b"",
        STARTUP,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
