//! Shared test fixtures: throwaway PKI, configs built in memory, a real hyper upstream on
//! loopback, and a hyper client over tokio-rustls.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use scrapegate_config::{ClientAuth, RateLimit, TlsSettings, TlsVersion, User, ValidatedConfig};
use scrapegate_server::{Gateway, Handler, Routes, ServerOptions, listener};
use tokio::net::TcpStream;

/// A CA and a server certificate for `localhost` / `127.0.0.1` (ECDSA P-256).
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "scrapegate test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

pub fn tls_settings(p: &Pki) -> TlsSettings {
    TlsSettings {
        cert_chain_pem: p.cert_pem.clone().into_bytes(),
        key_pem: p.key_pem.clone().into_bytes().into(),
        client_ca_pem: None,
        client_auth: ClientAuth::NoClientCert,
        client_allowed_sans: None,
        min_version: TlsVersion::Default,
        max_version: TlsVersion::Default,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
        prefer_server_cipher_suites: false,
        cert_file: None,
        key_file: None,
        client_ca_file: None,
    }
}

/// A cheap (cost 4) `$2y$` hash: tests never pay for a real cost.
pub fn hash(password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

/// The four users of the toolkit's `web_config_users*.good.yml`, with cheap hashes (bob's
/// cost-18 hash is never used; he gets a cheap one too).
pub fn toolkit_users() -> Vec<User> {
    [
        ("alice", "alice123"),
        ("bob", "bob123"),
        ("carol", "carol123"),
        ("dave", "dave123"),
    ]
    .into_iter()
    .map(|(n, p)| User {
        name: n.into(),
        hash: hash(p),
    })
    .collect()
}

pub fn config(tls: Option<TlsSettings>) -> ValidatedConfig {
    ValidatedConfig {
        path: "web.yml".into(),
        tls,
        http2: true,
        headers: Vec::new(),
        users: Vec::new(),
        rate_limit: RateLimit::default(),
        files: Vec::new(),
    }
}

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
}

/// The body `/big` answers with: [`BIG_LEN`] bytes of a repeating, position-dependent pattern,
/// so a reordered, dropped or duplicated chunk shows.
pub fn big_body() -> Bytes {
    (0..BIG_LEN)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Length of [`big_body`]: many TLS records and HTTP/2 DATA frames, more than a flow-control
/// window.
pub const BIG_LEN: usize = 1 << 20;

/// A real hyper HTTP/1.1 server on 127.0.0.1 standing in for an exporter. `/slow` answers
/// after 3 s, `/big` with [`big_body`]; everything else answers `Hello World!` at once.
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestUpstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn upstream() -> TestUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        seen.lock().unwrap().push(Seen {
                            path: req.uri().to_string(),
                            headers: req.headers().clone(),
                        });
                        if req.uri().path() == "/slow" {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        let body = if req.uri().path() == "/big" {
                            big_body()
                        } else {
                            Bytes::from_static(b"Hello World!")
                        };
                        let mut resp = Response::new(Full::new(body));
                        resp.headers_mut()
                            .insert("x-upstream-path", req.uri().to_string().parse().unwrap());
                        // Configured headers must replace this value.
                        resp.headers_mut()
                            .insert("x-frame-options", "sameorigin".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    TestUpstream { addr, seen, task }
}

/// A gateway serving on 127.0.0.1 with a default upstream.
pub struct TestGateway {
    pub gateway: Gateway,
    pub addr: SocketAddr,
}

pub async fn gateway(cfg: Option<ValidatedConfig>, upstream_url: &str) -> TestGateway {
    gateway_with(cfg, upstream_url, ServerOptions::default()).await
}

pub async fn gateway_with(
    cfg: Option<ValidatedConfig>,
    upstream_url: &str,
    opts: ServerOptions,
) -> TestGateway {
    let routes = Routes::new(Some(upstream_url), &[]).unwrap();
    let (gateway, _warnings) = Gateway::new(cfg.as_ref(), routes, opts).unwrap();
    let listener = listener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    gateway.serve(listener, Handler::Proxy);
    TestGateway { gateway, addr }
}

/// How the test client connects.
#[derive(Clone)]
pub struct Client {
    /// Trust this CA and speak TLS (server name `localhost`); `None`: plain HTTP.
    pub ca_pem: Option<String>,
    /// Offer `h2` in ALPN (and use HTTP/2 when the server picks it).
    pub offer_h2: bool,
}

/// One response, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub version: Version,
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn tls_connector(ca_pem: &str, offer_h2: bool) -> tokio_rustls::TlsConnector {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder()
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
    pub fn plain() -> Self {
        Self {
            ca_pem: None,
            offer_h2: false,
        }
    }

    pub fn tls(p: &Pki, offer_h2: bool) -> Self {
        Self {
            ca_pem: Some(p.ca_pem.clone()),
            offer_h2,
        }
    }

    /// GET `path` on a new connection.
    pub async fn get(&self, addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Reply {
        let tcp = TcpStream::connect(addr).await.unwrap();
        match &self.ca_pem {
            None => send(TokioIo::new(tcp), false, addr, path, headers).await,
            Some(ca) => {
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let tls = tls_connector(ca, self.offer_h2)
                    .connect(name, tcp)
                    .await
                    .unwrap();
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                send(TokioIo::new(tls), h2, addr, path, headers).await
            }
        }
    }
}

/// An HTTP/2 connection over TLS (ALPN `h2`) to the gateway at `addr`, for sending many
/// requests on one connection.
pub async fn h2_connection(
    p: &Pki,
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tls_connector(&p.ca_pem, true)
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn send<I>(io: I, h2: bool, addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Reply
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let scheme = if h2 { "https" } else { "http" };
    let mut req = Request::builder().uri(if h2 {
        format!("{scheme}://localhost:{}{path}", addr.port())
    } else {
        path.to_string()
    });
    if !h2 {
        req = req.header("host", format!("localhost:{}", addr.port()));
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    };
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        version,
    }
}
