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
//!
//! [`probe`] is the client side, for `scrapegate healthcheck`: one plain HTTP/1.1 GET, so an
//! image without curl can still run an exec probe.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, HOST, HeaderValue, USER_AGENT};
use http::uri::Scheme;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use crate::body::{self, GateBody};
use crate::gateway::Shared;

/// `/-/healthy`: the process is up and its accept loop answers.
pub const HEALTHY_PATH: &str = "/-/healthy";
/// `/-/ready`: the gateway serves and is not draining.
pub const READY_PATH: &str = "/-/ready";

/// The `route` label of health responses in `scrapegate_requests_total`: the probes are
/// counted, apart from scrapes.
pub(crate) fn label() -> Arc<str> {
    static L: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    L.get_or_init(|| Arc::from("health")).clone()
}

/// Answers one request on the health listener. The request body is never read.
pub(crate) fn respond<B>(shared: &Shared, req: &Request<B>) -> Response<GateBody> {
    let path = req.uri().path();
    // The path decides first: an unknown path is a 404 whatever the method, so a probe with
    // a typo in its URL is told so rather than told to change its method.
    if path != HEALTHY_PATH && path != READY_PATH {
        return body::not_found();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = body::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if path == HEALTHY_PATH {
        body::text(StatusCode::OK, "scrapegate is Healthy.\n")
    } else if shared.is_ready() {
        body::text(StatusCode::OK, "scrapegate is Ready.\n")
    } else {
        body::text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
}

/// Why [`probe`] got no HTTP status.
#[derive(Debug)]
pub enum ProbeError {
    /// The URL is not an absolute `http://` URL with a host.
    Url(String),
    /// The TCP connection could not be opened (refused, unreachable, name not resolved).
    Connect(std::io::Error),
    /// The connection opened but the HTTP/1.1 exchange failed (closed early, not HTTP).
    Http(hyper::Error),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(e) => f.write_str(e),
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Http(e) => write!(f, "HTTP: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// Checks that `url` is something [`probe`] can fetch: `http://`, with a host. `https://` is
/// refused with a reason, because the health listener never speaks TLS and a probe that
/// needed the gateway's CA would defeat its purpose.
pub fn probe_url(url: &str) -> Result<Uri, ProbeError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| ProbeError::Url(format!("invalid URL {url:?}: {e}")))?;
    match uri.scheme() {
        Some(s) if *s == Scheme::HTTP => {}
        Some(s) if *s == Scheme::HTTPS => {
            return Err(ProbeError::Url(format!(
                "{url}: only http:// URLs: the health listener (--web.health-address) speaks plain HTTP"
            )));
        }
        _ => {
            return Err(ProbeError::Url(format!(
                "{url}: not an http:// URL (e.g. http://127.0.0.1:9444/-/ready)"
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ProbeError::Url(format!("{url}: no host")));
    }
    Ok(uri)
}

/// One HTTP/1.1 `GET url` on a fresh connection; returns the response status (the body is not
/// read). `url` comes from [`probe_url`]. It has no deadline of its own: the caller wraps it in
/// one that also covers name resolution and connecting.
pub async fn probe(url: &Uri) -> Result<StatusCode, ProbeError> {
    let host = url
        .host()
        .ok_or_else(|| ProbeError::Url(format!("{url}: no host")))?;
    // `Uri::host` keeps the brackets of an IPv6 literal; the resolver wants the bare address.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = url.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(ProbeError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(ProbeError::Http)?;
    // The connection future does the I/O; it ends when the response is in or the task ends.
    let io = tokio::spawn(conn);
    let authority = url.authority().map_or(host, |a| a.as_str());
    let req = Request::get(url.path_and_query().map_or("/", |p| p.as_str()))
        .header(HOST, authority)
        .header(
            USER_AGENT,
            concat!("scrapegate-healthcheck/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Url(format!("{url}: {e}")))?;
    let result = sender.send_request(req).await.map_err(ProbeError::Http);
    io.abort();
    result.map(|resp| resp.status())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Empty;
    use rcgen::{CertificateParams, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{Gateway, Handler, Routes, ServerOptions, listener};

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

    async fn call(gw: &Gateway, handler: Handler, method: Method, path: &str) -> (u16, String) {
        let resp = gw
            .handle(request(method, path), peer(), false, handler)
            .await;
        let status = resp.status().as_u16();
        assert!(
            handler != Handler::Health || !resp.headers().contains_key("x-frame-options"),
            "configured headers on a health response"
        );
        let text = body::collect(resp.into_body()).await.unwrap();
        (status, String::from_utf8(text.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn probes_answer_without_credentials_and_past_the_rate_limit() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        // The telemetry listener is gated: no credentials, 401 (and the one-request bucket is
        // now empty).
        assert_eq!(
            call(&gw, Handler::Telemetry, Method::GET, HEALTHY_PATH)
                .await
                .0,
            401
        );
        assert_eq!(
            call(&gw, Handler::Telemetry, Method::GET, HEALTHY_PATH)
                .await
                .0,
            429
        );
        for _ in 0..3 {
            assert_eq!(
                call(&gw, Handler::Health, Method::GET, HEALTHY_PATH).await,
                (200, "scrapegate is Healthy.\n".into())
            );
        }
        // Not serving yet: not ready.
        assert_eq!(
            call(&gw, Handler::Health, Method::GET, READY_PATH).await,
            (503, "Service Unavailable\n".into())
        );
        let l = listener::bind("127.0.0.1:0").unwrap();
        let _task = gw.serve(l, Handler::Proxy);
        assert_eq!(
            call(&gw, Handler::Health, Method::GET, READY_PATH).await,
            (200, "scrapegate is Ready.\n".into())
        );
        assert_eq!(
            call(&gw, Handler::Health, Method::HEAD, READY_PATH).await.0,
            200
        );
        // Draining: no longer ready, still healthy.
        gw.shutdown();
        assert_eq!(
            call(&gw, Handler::Health, Method::GET, READY_PATH).await.0,
            503
        );
        assert_eq!(
            call(&gw, Handler::Health, Method::GET, HEALTHY_PATH)
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
                call(&gw, Handler::Health, Method::GET, path).await,
                (404, "404 page not found\n".into()),
                "{path}"
            );
        }
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let resp = gw
                .handle(
                    request(method.clone(), HEALTHY_PATH),
                    peer(),
                    false,
                    Handler::Health,
                )
                .await;
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(resp.headers()[ALLOW], "GET, HEAD");
        }
        // Query strings do not change the answer (kubelet and curl may add none, others may).
        assert_eq!(
            call(&gw, Handler::Health, Method::GET, "/-/healthy?x=1")
                .await
                .0,
            200
        );
        assert_eq!(gw.metrics().rate_limited.get(), 0);
    }

    #[test]
    fn probe_urls_are_plain_http_with_a_host() {
        assert!(probe_url("http://127.0.0.1:9444/-/ready").is_ok());
        assert!(probe_url("http://[::1]:9444/-/healthy").is_ok());
        assert!(probe_url("http://localhost/-/healthy").is_ok());
        let https = probe_url("https://127.0.0.1:9444/-/ready")
            .unwrap_err()
            .to_string();
        assert!(https.contains("only http:// URLs"), "{https}");
        for bad in [
            "127.0.0.1:9444/-/ready",
            "/-/ready",
            "ftp://h/x",
            "http://",
            "::",
        ] {
            assert!(probe_url(bad).is_err(), "{bad}");
        }
    }

    /// The probe against a live health listener: 200 for both paths, 404 elsewhere, and a
    /// connect error (not a hang) on a closed port.
    #[tokio::test]
    async fn probe_reads_the_status_of_a_health_listener() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let l = listener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _proxy = gw.serve(listener::bind("127.0.0.1:0").unwrap(), Handler::Proxy);
        let _task = gw.serve(l, Handler::Health);
        let status = |path: &str| {
            let url = probe_url(&format!("http://{addr}{path}")).unwrap();
            async move {
                tokio::time::timeout(Duration::from_secs(10), probe(&url))
                    .await
                    .expect("probe hung")
            }
        };
        assert_eq!(status(HEALTHY_PATH).await.unwrap(), StatusCode::OK);
        assert_eq!(status(READY_PATH).await.unwrap(), StatusCode::OK);
        assert_eq!(status("/metrics").await.unwrap(), StatusCode::NOT_FOUND);

        // A port nobody listens on: bind one, note it, close it.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let url = probe_url(&format!("http://{closed}/-/healthy")).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), probe(&url))
            .await
            .expect("probe hung")
            .unwrap_err();
        assert!(matches!(err, ProbeError::Connect(_)), "{err}");
    }

    /// Over a socket: the health listener speaks plain HTTP although web.yml enables TLS with
    /// required client certificates.
    #[tokio::test]
    async fn listener_speaks_plain_http_when_tls_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let l = listener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _task = gw.serve(l, Handler::Health);
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
