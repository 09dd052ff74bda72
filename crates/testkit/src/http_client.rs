//! A hyper client for tests: one request per new connection over plain TCP or TLS (trusting
//! one CA, server name `localhost`), HTTP/1.1 or HTTP/2 as ALPN decides; a long-lived HTTP/2
//! connection and a kept-alive HTTP/1.1 connection ([`Http1`]) for many requests; and a
//! request written by hand ([`raw`]).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wait::DEADLINE;

/// How the test client connects.
#[derive(Clone, Debug)]
pub struct Client {
    /// Trust this CA and speak TLS (server name `localhost`); `None`: plain HTTP.
    pub ca: Option<CertificateDer<'static>>,
    /// Offer `h2` in ALPN (and speak HTTP/2 when the server picks it).
    pub offer_h2: bool,
    /// A client certificate (chain) and its PKCS#8 key to present over TLS.
    pub identity: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
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
    tls_connector_with(ca, offer_h2, None)
}

/// [`tls_connector`] presenting a client certificate chain and its PKCS#8 key.
pub fn tls_connector_with(
    ca: &CertificateDer<'static>,
    offer_h2: bool,
    identity: Option<&(Vec<CertificateDer<'static>>, Vec<u8>)>,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("trust anchor");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let mut cfg = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(
                chain.clone(),
                rustls_pki_types::PrivatePkcs8KeyDer::from(key.clone()).into(),
            )
            .expect("client certificate and key"),
    };
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
            identity: None,
        }
    }

    /// TLS trusting `ca`, offering `h2` when `offer_h2`.
    pub fn tls(ca: &CertificateDer<'static>, offer_h2: bool) -> Self {
        Self {
            ca: Some(ca.clone()),
            offer_h2,
            identity: None,
        }
    }

    /// The same client presenting `leaf` as its client certificate.
    pub fn with_identity(self, leaf: &crate::pki::Leaf) -> Self {
        Self {
            identity: Some((vec![leaf.cert_der.clone()], leaf.key_pkcs8.clone())),
            ..self
        }
    }

    /// GET `path` with extra `headers` on a new connection to `addr`.
    pub async fn get(&self, addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Reply {
        self.request(Method::GET, addr, path, headers).await
    }

    /// `method` `path` (no body) with extra `headers` on a new connection to `addr`.
    pub async fn request(
        &self,
        method: Method,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, String)],
    ) -> Reply {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        match &self.ca {
            None => send(TokioIo::new(tcp), method, false, addr, path, headers).await,
            Some(ca) => {
                let name = ServerName::try_from("localhost").expect("server name");
                let tls = tls_connector_with(ca, self.offer_h2, self.identity.as_ref())
                    .connect(name, tcp)
                    .await
                    .expect("TLS handshake");
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                send(TokioIo::new(tls), method, h2, addr, path, headers).await
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

/// A kept-alive HTTP/2 connection (TLS, ALPN `h2`, trusting `ca`), for many requests on one
/// connection.
pub struct H2 {
    send: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
}

impl std::fmt::Debug for H2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2").finish_non_exhaustive()
    }
}

impl H2 {
    /// GET `path` with an optional `Authorization` value on a new stream; the status and the
    /// body (lossily decoded).
    pub async fn get(
        &mut self,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<(u16, String), hyper::Error> {
        self.send.ready().await?;
        let req = get_request(format!("https://localhost{path}"), None, authorization);
        status_and_body(self.send.send_request(req).await?).await
    }
}

/// A body-less GET of `uri`, with `Host` when given (HTTP/1) and `Authorization` when given.
fn get_request(
    uri: String,
    host: Option<&str>,
    authorization: Option<&str>,
) -> Request<Empty<Bytes>> {
    let mut req = Request::get(uri);
    if let Some(host) = host {
        req = req.header("host", host);
    }
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.body(Empty::new()).expect("request")
}

/// The status and the whole body (lossily decoded) of a response.
async fn status_and_body(
    resp: http::Response<hyper::body::Incoming>,
) -> Result<(u16, String), hyper::Error> {
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// [`H2`] to `addr` from the 127/8 address `from` (see [`crate::net::tcp_from`]).
pub async fn tls_h2_from(
    from: Option<std::net::Ipv4Addr>,
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
) -> std::io::Result<H2> {
    let tcp = crate::net::tcp_from(from, addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tls_connector(ca, true).connect(name, tcp).await?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err(std::io::Error::other("the server did not choose h2"));
    }
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(H2 { send })
}

async fn send<I>(
    io: I,
    method: Method,
    h2: bool,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
) -> Reply
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut req = Request::builder().method(method).uri(if h2 {
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

/// A kept-alive HTTP/1.1 client connection over any stream (plain TCP, a TLS stream, ...),
/// for requests one after another on the same connection.
pub struct Http1 {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl std::fmt::Debug for Http1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1").finish_non_exhaustive()
    }
}

impl Http1 {
    /// The HTTP/1.1 handshake on `io`; a task of its own drives the connection.
    pub async fn handshake<I>(io: I) -> std::io::Result<Self>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { send })
    }

    /// GET `path` (`Host: localhost`) with an optional `Authorization` value, once the
    /// connection is ready for it; returns the status and the body (lossily decoded).
    pub async fn get(
        &mut self,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<(u16, String), hyper::Error> {
        self.send.ready().await?;
        let req = get_request(path.to_owned(), Some("localhost"), authorization);
        status_and_body(self.send.send_request(req).await?).await
    }
}

/// Writes `<method> <path> HTTP/1.1` (`Host: a`, `Connection: close`) by hand on a new plain
/// TCP connection to `addr` and returns everything the server sent until it closed, bounded
/// by [`DEADLINE`]. A reset after the first bytes of the answer (a server closing hard) ends
/// the read without failing; a failure before any byte came back panics.
pub async fn raw(addr: SocketAddr, method: &str, path: &str) -> String {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write the request");
        let mut out = Vec::new();
        if let Err(e) = tcp.read_to_end(&mut out).await {
            assert!(!out.is_empty(), "{method} {path} on {addr}: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} on {addr}: no response within {DEADLINE:?}"))
}

/// A kept-alive HTTP/1.1 connection over TLS (trusting `ca`, server name `localhost`, ALPN
/// `http/1.1`) to `addr`, from the loopback address `from` when given: each 127/8 address is
/// a client IP of its own, e.g. for per-source limits.
pub async fn tls_http1_from(
    from: Option<std::net::Ipv4Addr>,
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
) -> std::io::Result<Http1> {
    let tcp = crate::net::tcp_from(from, addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tls_connector(ca, false).connect(name, tcp).await?;
    Http1::handshake(tls).await
}
