//! Helpers of the `hostile_*` and `flood_*` tests, on top of `e2e_support` (which the test file
//! must declare as a sibling module): the real binary behind TLS and basic auth with a
//! telemetry listener, a rustls + hyper client, source-address binding inside 127.0.0.0/8,
//! reading `scrapegate_` metrics, and raising RLIMIT_NOFILE.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

use crate::e2e_support::{Proc, STARTUP, Upstream, address_field, spawn, write_pki};

/// Raises the soft RLIMIT_NOFILE to `want` (capped at the hard limit); returns the new soft
/// limit. Children (the gateway) inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        let target: libc::rlim_t = want.min(rl.rlim_max);
        if rl.rlim_cur < target {
            rl.rlim_cur = target;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0, "setrlimit");
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur
    }
}

/// A bcrypt `$2y$` hash of `password` at `cost`.
pub fn hash_cost(password: &str, cost: u32) -> String {
    bcrypt::hash_with_result(password, cost)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// How to start the gateway.
pub struct GwOpts {
    /// Serve TLS (server certificate from a throwaway CA).
    pub tls: bool,
    /// bcrypt cost of the good user's hash.
    pub cost: u32,
    /// Extra command-line flags (timeouts, limits).
    pub flags: Vec<String>,
}

impl Default for GwOpts {
    fn default() -> Self {
        Self {
            tls: true,
            cost: 4,
            flags: Vec::new(),
        }
    }
}

/// The good user of every gateway started here.
pub const USER: &str = "scraper";
pub const PASSWORD: &str = "good-password";

/// A running gateway: the process, its proxy and telemetry addresses, and a client config
/// trusting its CA.
pub struct Gw {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub telemetry: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub auth: String,
    _dir: tempfile::TempDir,
}

/// Starts the gateway in front of `up` on 127.0.0.1 with a telemetry listener; returns when
/// both listeners serve.
pub fn start(up: &Upstream, opts: GwOpts) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let mut yml = String::new();
    if opts.tls {
        write_pki(dir.path());
        yml.push_str("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    }
    yml.push_str(&format!(
        "basic_auth_users:\n  {USER}: {}\n",
        hash_cost(PASSWORD, opts.cost)
    ));
    let web = dir.path().join("web.yml");
    std::fs::write(&web, yml).unwrap();
    let mut args = vec![
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--web.telemetry-address=127.0.0.1:0".to_string(),
        format!("--web.config.file={}", web.display()),
        format!("--upstream=http://{}", up.addr),
        "--log.level=info".to_string(),
    ];
    args.extend(opts.flags);
    let proc = spawn(&args);
    let addr = proc.listening_on();
    let tline = proc
        .stderr
        .wait_for(STARTUP, |l| l.contains("msg=\"Telemetry listening on\""))
        .unwrap_or_else(|| panic!("no telemetry listener:\n{}", proc.stderr.all()));
    let telemetry = address_field(&tline);
    let tls = opts.tls.then(|| {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(dir.path().join("ca.pem")).unwrap();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(cfg)
    });
    Gw {
        proc,
        addr,
        telemetry,
        tls,
        auth: basic(USER, PASSWORD),
        _dir: dir,
    }
}

/// Any client stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Pin<Box<dyn Io>>;

/// A TCP connection to `to` from the loopback address `from` (any of 127.0.0.0/8 works on
/// Linux without configuration: each is a distinct client IP for the failure limiter).
pub async fn tcp_from(from: Option<Ipv4Addr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = from {
        sock.bind(SocketAddr::from((ip, 0)))?;
    }
    let tcp = sock.connect(to).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

impl Gw {
    /// Connects (TLS when the gateway serves it) to the proxy listener, or the telemetry one.
    pub async fn connect_to(
        &self,
        to: SocketAddr,
        from: Option<Ipv4Addr>,
    ) -> std::io::Result<BoxIo> {
        let tcp = tcp_from(from, to).await?;
        match &self.tls {
            None => Ok(Box::pin(tcp)),
            Some(cfg) => {
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(cfg));
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await?;
                Ok(Box::pin(tls))
            }
        }
    }

    /// A keep-alive HTTP/1.1 client on a new connection to the proxy listener.
    pub async fn client(&self, from: Option<Ipv4Addr>) -> std::io::Result<Client> {
        let io = self.connect_to(self.addr, from).await?;
        Client::new(io).await
    }

    /// The gateway's own metrics (OpenMetrics text) from the telemetry listener.
    pub async fn metrics(&self) -> String {
        let io = self
            .connect_to(self.telemetry, None)
            .await
            .expect("connect to telemetry");
        let mut c = Client::new(io).await.expect("telemetry handshake");
        let (code, body) = c
            .get("/metrics", Some(&self.auth))
            .await
            .expect("scrape telemetry");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.proc.child.try_wait().unwrap().is_none()
    }

    /// VmRSS of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.proc.child.id())
    }
}

/// VmRSS of `pid` in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A hyper HTTP/1.1 client connection.
pub struct Client {
    send: SendRequest<Empty<Bytes>>,
}

impl Client {
    pub async fn new(io: BoxIo) -> std::io::Result<Self> {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { send })
    }

    /// GET `path` with an optional `Authorization` value; returns status and body.
    pub async fn get(
        &mut self,
        path: &str,
        auth: Option<&str>,
    ) -> Result<(u16, String), hyper::Error> {
        let mut req = Request::get(path).header("host", "localhost");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        self.send.ready().await?;
        let resp = self
            .send
            .send_request(req.body(Empty::new()).unwrap())
            .await?;
        let code = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((code, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The value of the first sample of `name` (exact metric name, optionally followed by
/// labels, e.g. `scrapegate_tls_handshake_failures_total{reason="timeout"}`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(name)?;
        // `name` without labels must not match a longer name or a labelled sample.
        if !name.ends_with('}') && !rest.starts_with(' ') {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes; true if it held.
pub async fn eventually<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
