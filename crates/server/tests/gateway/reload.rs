//! `Gateway::apply`: reloaded configs reach the next request; refused ones change nothing.

use crate::support::*;
use http::StatusCode;
use scrapegate_config::RateLimit;
use scrapegate_server::ReloadError;

#[tokio::test]
async fn users_headers_and_rate_limit_change_on_apply() {
    let up = upstream().await;
    let gw = gateway(Some(config(None)), &up.url()).await;
    let c = Client::plain();
    assert_eq!(c.get(gw.addr, "/", &[]).await.status, StatusCode::OK);

    let mut cfg = config(None);
    cfg.users = users(&[("dave", &hash("dave123"))]);
    cfg.headers = vec![header("x-xss-protection", "1")];
    let report = gw.gateway.apply(&cfg).unwrap();
    assert_eq!(report.generation, 2);
    assert_eq!(gw.gateway.generation(), 2);
    let r = c.get(gw.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["x-xss-protection"], "1");
    let ok = [("authorization", basic("dave", "dave123"))];
    assert_eq!(c.get(gw.addr, "/", &ok).await.status, StatusCode::OK);

    // rate_limit applies on reload (a deliberate difference from Go).
    cfg.rate_limit = RateLimit {
        interval_nanos: 1_000_000_000,
        burst: 0,
    };
    gw.gateway.apply(&cfg).unwrap();
    assert_eq!(
        c.get(gw.addr, "/", &ok).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let text = gw.gateway.render_metrics();
    assert!(text.contains("scrapegate_config_generation 3"), "{text}");
    assert!(
        text.contains("scrapegate_config_reloads_total{result=\"success\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("scrapegate_config_last_reload_successful 1"),
        "{text}"
    );
}

#[tokio::test]
async fn switching_tls_on_or_off_is_refused_and_the_old_config_keeps_serving() {
    let up = upstream().await;
    let p = pki();
    let plain = gateway(Some(config(None)), &up.url()).await;
    assert!(matches!(
        plain.gateway.apply(&config(Some(p.settings()))),
        Err(ReloadError::TlsToggle { enable: true })
    ));
    assert_eq!(plain.gateway.generation(), 1);
    assert_eq!(
        Client::plain().get(plain.addr, "/", &[]).await.status,
        StatusCode::OK
    );
    let text = plain.gateway.render_metrics();
    assert!(
        text.contains("scrapegate_config_last_reload_successful 0"),
        "{text}"
    );
    assert!(
        text.contains("scrapegate_config_reloads_total{result=\"failure\"} 1"),
        "{text}"
    );

    let tls = gateway(Some(config(Some(p.settings()))), &up.url()).await;
    assert!(matches!(
        tls.gateway.apply(&config(None)),
        Err(ReloadError::TlsToggle { enable: false })
    ));
    let r = p.client(true).get(tls.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A certificate rotation reaches the next connection; an http2 change is reported as
/// needing a restart.
#[tokio::test]
async fn certificate_rotation_reaches_new_connections() {
    let up = upstream().await;
    let old = pki();
    let gw = gateway(Some(config(Some(old.settings()))), &up.url()).await;
    let new = pki();
    let mut cfg = config(Some(new.settings()));
    cfg.http2 = false;
    let report = gw.gateway.apply(&cfg).unwrap();
    assert!(report.tls.is_some());
    assert_eq!(report.http2_needs_restart, Some(false), "{report:?}");
    let r = new.client(false).get(gw.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = gw.gateway.render_metrics();
    assert!(
        text.contains("scrapegate_tls_certificate_not_after_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn telemetry_listener_serves_metrics_health_and_readiness_behind_the_gate() {
    let mut cfg = config(None);
    cfg.users = users(&[("prom", &hash("secret"))]);
    let routes = scrapegate_server::Routes::new(None, &[]).unwrap();
    let (gw, _) = scrapegate_server::Gateway::new(Some(&cfg), routes, Default::default()).unwrap();
    let l = scrapegate_server::listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gw.serve_telemetry(l);
    let c = Client::plain();
    assert_eq!(
        c.get(addr, "/metrics", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let auth = [("authorization", basic("prom", "secret"))];
    let r = c.get(addr, "/metrics", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    for name in [
        "scrapegate_requests_total{code=\"401\",route=\"telemetry\"} 1",
        "scrapegate_auth_cache_misses_total",
        "scrapegate_auth_bcrypt_duration_seconds_bucket",
        "scrapegate_auth_bcrypt_queue_depth",
        "scrapegate_config_last_reload_success_timestamp_seconds",
    ] {
        assert!(r.body.contains(name), "{name} missing:\n{}", r.body);
    }
    assert_eq!(
        c.get(addr, "/-/healthy", &auth).await.status,
        StatusCode::OK
    );
    assert_eq!(c.get(addr, "/-/ready", &auth).await.status, StatusCode::OK);
    gw.shutdown();
    assert!(!gw.render_metrics().is_empty());
}

/// TLS settings the gateway refuses to start with, each with the reason it gives. A reload
/// into any of them must be refused the same way.
fn start_up_refusals(p: &Pki) -> Vec<(&'static str, scrapegate_config::ValidatedConfig)> {
    use scrapegate_config::{CipherSuite, TlsVersion};
    let mut h2_without_aes128 = config(Some(p.settings()));
    if let Some(tls) = h2_without_aes128.tls.as_mut() {
        tls.max_version = TlsVersion::Tls12;
        tls.cipher_suites = vec![CipherSuite::EcdheEcdsaAes256GcmSha384];
    }
    let mut no_version = config(Some(p.settings()));
    if let Some(tls) = no_version.tls.as_mut() {
        tls.max_version = TlsVersion::Tls11;
    }
    let mut only_cbc = config(Some(p.settings()));
    // With HTTP/2 on, Go's HTTP/2 rule would refuse this list first.
    only_cbc.http2 = false;
    if let Some(tls) = only_cbc.tls.as_mut() {
        tls.cipher_suites = vec![CipherSuite::EcdheEcdsaAes128CbcSha];
    }
    vec![
        ("HTTP/2-required AES_128_GCM_SHA256", h2_without_aes128),
        ("leaves no usable TLS version", no_version),
        ("no usable TLS 1.2 cipher suite", only_cbc),
    ]
}

/// Every check that refuses a file at start-up refuses it on reload: the last good generation
/// keeps serving, the failure is counted and the reload gauge drops to 0.
#[tokio::test]
async fn a_reload_into_a_file_start_up_refuses_is_refused() {
    let up = upstream().await;
    let p = pki();
    // Serving HTTP/1.1 only, so each file is refused for its own reason (with HTTP/2 on, the
    // HTTP/2 cipher rule would speak first for the cipher cases).
    let mut good = config(Some(p.settings()));
    good.http2 = false;
    let gw = gateway(Some(good), &up.url()).await;
    for (reason, bad) in start_up_refusals(&p) {
        let routes = scrapegate_server::Routes::new(Some(&up.url()), &[]).unwrap();
        let at_start =
            scrapegate_server::Gateway::new(Some(&bad), routes, Default::default()).unwrap_err();
        assert!(at_start.to_string().contains(reason), "{at_start}");

        let err = gw.gateway.apply(&bad).unwrap_err();
        assert!(matches!(err, ReloadError::Tls(_)), "{err}");
        assert!(err.to_string().contains(reason), "{err}");
        assert_eq!(gw.gateway.generation(), 1, "{reason}");
        assert_eq!(gw.gateway.metrics().reload_last_successful.get(), 0);
        let r = p.client(true).get(gw.addr, "/", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{reason}");
        assert_eq!(r.version, http::Version::HTTP_11, "{reason}");
    }
    let text = gw.gateway.render_metrics();
    assert!(
        text.contains("scrapegate_config_reloads_total{result=\"failure\"} 3"),
        "{text}"
    );
}

/// A reload that fails after its TLS state was built (here: the file also turns HTTP/2 on
/// with a cipher list HTTP/2 refuses, which only the restart check sees) changes nothing: the
/// old certificate, users, headers, rate limit and routes all stay.
#[tokio::test]
async fn a_reload_failing_late_leaves_every_part_on_the_old_generation() {
    use scrapegate_config::{CipherSuite, TlsVersion};
    let up = upstream().await;
    let old = pki();
    let mut good = config(Some(old.settings()));
    good.http2 = false;
    good.users = users(&[("old", &hash("old-pw"))]);
    good.headers = vec![header("x-frame-options", "deny")];
    let gw = gateway(Some(good), &up.url()).await;

    let new = pki();
    let mut bad = config(Some(new.settings()));
    bad.http2 = true;
    if let Some(tls) = bad.tls.as_mut() {
        tls.max_version = TlsVersion::Tls12;
        tls.cipher_suites = vec![CipherSuite::EcdheEcdsaAes256GcmSha384];
    }
    bad.users = users(&[("new", &hash("new-pw"))]);
    bad.headers = vec![header("x-frame-options", "sameorigin")];
    bad.rate_limit = RateLimit {
        interval_nanos: 3_600_000_000_000,
        burst: 1,
    };
    let err = gw.gateway.apply(&bad).unwrap_err();
    assert!(err.to_string().contains("HTTP/2-required"), "{err}");
    assert_eq!(gw.gateway.generation(), 1);

    // The old certificate (a client trusting only the old CA completes its handshake), the
    // old user and header, no rate limit (three requests pass a burst of one), the old route.
    let client = old.client(false);
    for _ in 0..3 {
        let r = client
            .get(
                gw.addr,
                "/metrics",
                &[("authorization", basic("old", "old-pw"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["x-frame-options"], "deny");
        assert_eq!(r.headers["x-upstream-path"], "/metrics");
    }
    let r = client
        .get(gw.addr, "/", &[("authorization", basic("new", "new-pw"))])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
