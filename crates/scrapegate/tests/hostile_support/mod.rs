//! The gateway the `hostile_*` and `flood_*` tests attack: the real binary behind TLS and
//! basic auth with a telemetry listener, reached from chosen 127/8 source addresses. Only this
//! glue (the flags, the web.yml, the good user) is binary-specific; everything else comes from
//! the test kit.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;

use scrapegate_testkit::tls_client::{ClientOpts, client_config, handshake};
use scrapegate_testkit::{Http1, Proc, TestUpstream, TlsSite, basic, hash_cost, spawn, tcp_from};
use tokio::io::{AsyncRead, AsyncWrite};

/// How to start the gateway.
pub struct GwOpts {
    /// bcrypt cost of the good user's hash.
    pub cost: u32,
    /// Extra command-line flags (timeouts, limits).
    pub flags: Vec<String>,
}

impl Default for GwOpts {
    fn default() -> Self {
        Self {
            cost: 4,
            flags: Vec::new(),
        }
    }
}

/// The good user of every gateway started here.
pub const USER: &str = "scraper";
const PASSWORD: &str = "good-password";

/// A running gateway: the process, its proxy and telemetry addresses, its PKI, and the good
/// user's `Authorization` value.
pub struct Gw {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub telemetry: SocketAddr,
    pub auth: String,
    /// The test PKI and web.yml (kept for the gateway's life; clients trust its CA).
    pub site: TlsSite,
}

/// Starts the gateway in front of `up` on 127.0.0.1 with a telemetry listener; returns when
/// both listeners serve.
pub fn start(up: &TestUpstream, opts: GwOpts) -> Gw {
    let site = TlsSite::new(&format!(
        "basic_auth_users:\n  {USER}: {}\n",
        hash_cost(PASSWORD, opts.cost)
    ));
    let mut args = vec![
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--web.telemetry-address=127.0.0.1:0".to_string(),
        format!("--web.config.file={}", site.web.display()),
        format!("--upstream={}", up.url()),
        "--log.level=info".to_string(),
    ];
    args.extend(opts.flags);
    let proc = spawn(env!("CARGO_BIN_EXE_scrapegate"), &args);
    let addr = proc.listening_on();
    let telemetry = proc.address_after("Telemetry listening on");
    Gw {
        proc,
        addr,
        telemetry,
        auth: basic(USER, PASSWORD),
        site,
    }
}

/// Any client stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Pin<Box<dyn Io>>;

impl Gw {
    /// A TLS connection to the proxy listener, or the telemetry one, from `from`.
    pub async fn connect_to(
        &self,
        to: SocketAddr,
        from: Option<Ipv4Addr>,
    ) -> std::io::Result<BoxIo> {
        let tcp = tcp_from(from, to).await?;
        let tls = client_config(&self.site.ca.cert_der, &ClientOpts::default());
        Ok(Box::pin(handshake(tcp, tls).await?))
    }

    /// A keep-alive HTTP/1.1 client on a new connection to the proxy listener.
    pub async fn client(&self, from: Option<Ipv4Addr>) -> std::io::Result<Http1> {
        Http1::handshake(self.connect_to(self.addr, from).await?).await
    }

    /// The gateway's own metrics (OpenMetrics text) from the telemetry listener.
    pub async fn metrics(&self) -> String {
        let io = self
            .connect_to(self.telemetry, None)
            .await
            .expect("connect to telemetry");
        let mut c = Http1::handshake(io).await.expect("telemetry handshake");
        let (code, body) = c
            .get("/metrics", Some(&self.auth))
            .await
            .expect("scrape telemetry");
        assert_eq!(code, 200, "{body}\n{}", self.proc.stderr.all());
        body
    }
}
