//! `Gateway::apply`: reloaded configs reach the next request; refused ones change nothing.

mod common;

use common::*;
use http::StatusCode;
use scrapegate_config::{RateLimit, User};
use scrapegate_server::ApplyError;

#[tokio::test]
async fn users_headers_and_rate_limit_change_on_apply() {
    let up = upstream().await;
    let gw = gateway(Some(config(None)), &up.url()).await;
    let c = Client::plain();
    assert_eq!(c.get(gw.addr, "/", &[]).await.status, StatusCode::OK);

    let mut cfg = config(None);
    cfg.users = vec![User {
        name: "dave".into(),
        hash: hash("dave123"),
    }];
    cfg.headers = vec![("X-XSS-Protection".into(), "1".into())];
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
    assert_eq!(
        plain.gateway.apply(&config(Some(tls_settings(&p)))),
        Err(ApplyError::TlsToggle { enable: true })
    );
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

    let tls = gateway(Some(config(Some(tls_settings(&p)))), &up.url()).await;
    assert_eq!(
        tls.gateway.apply(&config(None)),
        Err(ApplyError::TlsToggle { enable: false })
    );
    let r = Client::tls(&p, true).get(tls.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A certificate rotation reaches the next connection; an http2 change is reported as
/// needing a restart.
#[tokio::test]
async fn certificate_rotation_reaches_new_connections() {
    let up = upstream().await;
    let old = pki();
    let gw = gateway(Some(config(Some(tls_settings(&old)))), &up.url()).await;
    let new = pki();
    let mut cfg = config(Some(tls_settings(&new)));
    cfg.http2 = false;
    let report = gw.gateway.apply(&cfg).unwrap();
    assert!(report.tls.is_some());
    assert_eq!(report.needs_restart.len(), 1, "{report:?}");
    let r = Client::tls(&new, false).get(gw.addr, "/", &[]).await;
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
    cfg.users = vec![User {
        name: "prom".into(),
        hash: hash("secret"),
    }];
    let routes = scrapegate_server::Routes::new(None, &[]).unwrap();
    let (gw, _) = scrapegate_server::Gateway::new(Some(&cfg), routes, Default::default()).unwrap();
    let l = scrapegate_server::listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gw.serve(l, scrapegate_server::Handler::Telemetry);
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
