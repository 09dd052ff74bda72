//! The client side of `scrapegate healthcheck`: one plain HTTP/1.1 GET against a gateway's
//! health listener (`--web.health-address`), so an image without curl can run an exec probe.

use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::uri::Scheme;
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

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
    use std::time::Duration;

    use scrapegate_server::{Gateway, Routes, ServerOptions, listener};

    use super::*;

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
        // Port 9 (discard): nothing is ever forwarded.
        let routes = Routes::new(Some("http://127.0.0.1:9"), &[]).unwrap();
        let (gw, _) = Gateway::new(None, routes, ServerOptions::default()).unwrap();
        let l = listener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _proxy = gw.serve_proxy(listener::bind("127.0.0.1:0").unwrap());
        let _task = gw.serve_health(l);
        let status = |path: &str| {
            let url = probe_url(&format!("http://{addr}{path}")).unwrap();
            async move {
                tokio::time::timeout(Duration::from_secs(10), probe(&url))
                    .await
                    .expect("probe hung")
            }
        };
        assert_eq!(status("/-/healthy").await.unwrap(), StatusCode::OK);
        assert_eq!(status("/-/ready").await.unwrap(), StatusCode::OK);
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
}
