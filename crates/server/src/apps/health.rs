//! The health listener (`--web.health-address`): `/-/healthy` and `/-/ready` in plain HTTP,
//! for liveness and readiness probes that hold no credentials.
//!
//! Kubernetes exec probes and Docker's `HEALTHCHECK` cannot present a client certificate or a
//! password, and the telemetry listener is protected by the same web.yml as the gateway, so
//! this listener stands outside the gate on purpose: no TLS (even when web.yml enables it), no
//! rate limit, no basic auth, no configured headers, no upstream. To make that safe it answers
//! nothing but the two probe paths, with fixed texts that reveal neither the version, nor the
//! configuration, nor any metric; it is meant to be bound to loopback.
//!
//! Connections still go through the shared accept loop, so the connection limit and the
//! header-read and idle timeouts apply as on every other listener.

use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};

use super::App;
use crate::body::{self, GateBody, RequestBody};
use crate::front::Readiness;
use crate::gate::trace::Trace;
use crate::telemetry::{Metrics, labels};
use crate::upstream::Origin;

/// `/-/healthy`: the process is up and its accept loop answers.
pub const HEALTHY_PATH: &str = "/-/healthy";
/// `/-/ready`: the gateway serves and is not draining.
pub const READY_PATH: &str = "/-/ready";

/// The health listener's app: it sees nothing of the gateway but whether it is ready.
pub(crate) struct HealthApp {
    pub(crate) readiness: Readiness,
    pub(crate) metrics: std::sync::Arc<Metrics>,
}

impl App for HealthApp {
    /// Plain HTTP even when web.yml enables TLS: probes hold neither a client certificate nor
    /// the CA to check ours.
    const TLS: bool = false;
    const NAME: &'static str = "health";

    async fn call<B: RequestBody>(
        &self,
        req: Request<B>,
        _origin: &Origin,
        trace: &mut Trace,
    ) -> Response<GateBody> {
        if trace.wants_identity {
            trace.route = Some(labels::HEALTH.clone());
        }
        let resp = respond(&self.readiness, &req);
        // Counted apart from scrapes, under the `health` route label.
        self.metrics
            .count_response(resp.status().as_u16(), &labels::HEALTH);
        resp
    }
}

/// Answers one request on the health listener. The request body is never read.
fn respond<B>(readiness: &Readiness, req: &Request<B>) -> Response<GateBody> {
    // The path decides first: an unknown path is a 404 whatever the method, so a probe with
    // a typo in its URL is told so rather than told to change its method.
    let Some(answer) = probe(readiness, req.uri().path()) else {
        return body::not_found();
    };
    if is_get_or_head(req.method()) {
        answer
    } else {
        get_or_head_only()
    }
}

/// The answer of a probe path (`/-/healthy`, `/-/ready`), or `None` for any other path. The
/// health and telemetry listeners both answer with it.
pub(crate) fn probe(readiness: &Readiness, path: &str) -> Option<Response<GateBody>> {
    Some(match path {
        HEALTHY_PATH => body::text(StatusCode::OK, "scrapegate is Healthy.\n"),
        READY_PATH if readiness.is_ready() => body::text(StatusCode::OK, "scrapegate is Ready.\n"),
        READY_PATH => body::text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n"),
        _ => return None,
    })
}

/// True for the two methods the probe and metrics endpoints answer.
pub(crate) fn is_get_or_head(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// 405 with `Allow: GET, HEAD`.
pub(crate) fn get_or_head_only() -> Response<GateBody> {
    body::method_not_allowed(HeaderValue::from_static("GET, HEAD"))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Empty;
    use rcgen::{CertificateParams, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use http_body_util::BodyExt;

    use crate::{Gateway, Routes, ServerOptions, listener};

    use super::*;

    /// A web.yml with TLS, required and verified client certificates, one user, a rate limit
    /// that admits a single request and a configured header: everything the health listener
    /// must stay clear of.
    fn guarded_config(dir: &std::path::Path) -> scrapegate_config::ValidatedConfig {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        let hash = bcrypt::hash_with_result("pw", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let web = dir.join("web.yml");
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.crt\n\
                 http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
                 rate_limit:\n  interval: 1h\n  burst: 1\n\
                 basic_auth_users:\n  alice: {hash}\n"
            ),
        )
        .unwrap();
        scrapegate_config::load(&web).unwrap()
    }

    fn gateway(dir: &std::path::Path) -> Gateway {
        let cfg = guarded_config(dir);
        // Port 9 (discard): nothing may ever be forwarded, so an unreachable upstream is right.
        let routes = Routes::new(Some("http://127.0.0.1:9"), &[]).unwrap();
        Gateway::new(Some(&cfg), routes, ServerOptions::default())
            .unwrap()
            .0
    }

    fn request(method: Method, path: &str) -> Request<Empty<Bytes>> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Empty::new())
            .unwrap()
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    /// Which listener's app answers.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Listener {
        Telemetry,
        Health,
    }

    async fn call(gw: &Gateway, listener: Listener, method: Method, path: &str) -> (u16, String) {
        let origin = Origin::new(peer().ip(), false);
        let req = request(method, path);
        let resp = match listener {
            Listener::Health => {
                gw.health_app()
                    .call(req, &origin, &mut Trace::default())
                    .await
            }
            Listener::Telemetry => {
                gw.telemetry_app()
                    .call(req, &origin, &mut Trace::default())
                    .await
            }
        };
        let status = resp.status().as_u16();
        assert!(
            listener != Listener::Health || !resp.headers().contains_key("x-frame-options"),
            "configured headers on a health response"
        );
        let text = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(text.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn probes_answer_without_credentials_and_past_the_rate_limit() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        // The telemetry listener is gated: no credentials, 401 (and the one-request bucket is
        // now empty).
        assert_eq!(
            call(&gw, Listener::Telemetry, Method::GET, HEALTHY_PATH)
                .await
                .0,
            401
        );
        assert_eq!(
            call(&gw, Listener::Telemetry, Method::GET, HEALTHY_PATH)
                .await
                .0,
            429
        );
        for _ in 0..3 {
            assert_eq!(
                call(&gw, Listener::Health, Method::GET, HEALTHY_PATH).await,
                (200, "scrapegate is Healthy.\n".into())
            );
        }
        // Not serving yet: not ready.
        assert_eq!(
            call(&gw, Listener::Health, Method::GET, READY_PATH).await,
            (503, "Service Unavailable\n".into())
        );
        let l = listener::bind("127.0.0.1:0").unwrap();
        let _task = gw.serve_proxy(l);
        assert_eq!(
            call(&gw, Listener::Health, Method::GET, READY_PATH).await,
            (200, "scrapegate is Ready.\n".into())
        );
        assert_eq!(
            call(&gw, Listener::Health, Method::HEAD, READY_PATH)
                .await
                .0,
            200
        );
        // Draining: no longer ready, still healthy.
        gw.shutdown();
        assert_eq!(
            call(&gw, Listener::Health, Method::GET, READY_PATH).await.0,
            503
        );
        assert_eq!(
            call(&gw, Listener::Health, Method::GET, HEALTHY_PATH)
                .await
                .0,
            200
        );
    }

    #[tokio::test]
    async fn nothing_but_the_two_paths_and_two_methods() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        for path in ["/metrics", "/", "/-/healthy/", "/-/reload", "/-/quit"] {
            assert_eq!(
                call(&gw, Listener::Health, Method::GET, path).await,
                (404, "404 page not found\n".into()),
                "{path}"
            );
        }
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let origin = Origin::new(peer().ip(), false);
            let resp = gw
                .health_app()
                .call(
                    request(method.clone(), HEALTHY_PATH),
                    &origin,
                    &mut Trace::default(),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(resp.headers()[http::header::ALLOW], "GET, HEAD");
        }
        // Query strings do not change the answer (kubelet and curl may add none, others may).
        assert_eq!(
            call(&gw, Listener::Health, Method::GET, "/-/healthy?x=1")
                .await
                .0,
            200
        );
        assert_eq!(gw.metrics().rate_limited.get(), 0);
    }

    /// Over a socket: the health listener speaks plain HTTP although web.yml enables TLS with
    /// required client certificates.
    #[tokio::test]
    async fn listener_speaks_plain_http_when_tls_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let l = listener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _task = gw.serve_health(l);
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nscrapegate is Healthy.\n"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("x-frame-options"),
            "{text}"
        );
    }
}
