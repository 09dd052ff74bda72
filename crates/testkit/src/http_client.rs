//! A hyper client for tests: one request per new connection over plain TCP or TLS (trusting
//! one CA, server name `localhost`), HTTP/1.1 or HTTP/2 as ALPN decides; and a long-lived
//! HTTP/2 connection for many requests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// How the test client connects.
#[derive(Clone, Debug)]
pub struct Client {
    /// Trust this CA and speak TLS (server name `localhost`); `None`: plain HTTP.
    pub ca: Option<CertificateDer<'static>>,
    /// Offer `h2` in ALPN (and speak HTTP/2 when the server picks it).
    pub offer_h2: bool,
}

/// One response, read in full.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, lossily decoded.
    pub body: String,
    /// The HTTP version spoken.
    pub version: Version,
}

/// A tokio-rustls connector trusting `ca`, offering `h2` and/or `http/1.1`.
pub fn tls_connector(ca: &CertificateDer<'static>, offer_h2: bool) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("trust anchor");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = if offer_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

impl Client {
    /// Plain HTTP/1.1.
    pub fn plain() -> Self {
        Self {
            ca: None,
            offer_h2: false,
        }
    }

    /// TLS trusting `ca`, offering `h2` when `offer_h2`.
    pub fn tls(ca: &CertificateDer<'static>, offer_h2: bool) -> Self {
        Self {
            ca: Some(ca.clone()),
            offer_h2,
        }
    }

    /// GET `path` with extra `headers` on a new connection to `addr`.
    pub async fn get(&self, addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Reply {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        match &self.ca {
            None => send(TokioIo::new(tcp), false, addr, path, headers).await,
            Some(ca) => {
                let name = ServerName::try_from("localhost").expect("server name");
                let tls = tls_connector(ca, self.offer_h2)
                    .connect(name, tcp)
                    .await
                    .expect("TLS handshake");
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                send(TokioIo::new(tls), h2, addr, path, headers).await
            }
        }
    }
}

/// An HTTP/2 connection over TLS (ALPN `h2`, trusting `ca`) to `addr`, for sending many
/// requests on one connection.
pub async fn h2_connection(
    ca: &CertificateDer<'static>,
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tls_connector(ca, true)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    sender
}

async fn send<I>(io: I, h2: bool, addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Reply
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut req = Request::builder().uri(if h2 {
        format!("https://localhost:{}{path}", addr.port())
    } else {
        path.to_owned()
    });
    if !h2 {
        req = req.header("host", format!("localhost:{}", addr.port()));
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Empty::<Bytes>::new()).expect("request");
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("HTTP/2 request")
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("HTTP/1.1 request")
    };
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        version,
    }
}
