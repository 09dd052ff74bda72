//! What the gateway tests share beyond the test kit: configs built in memory and a gateway
//! serving on loopback.

use std::net::SocketAddr;

use scrapegate_config::{RateLimit, TlsSettings, User, ValidatedConfig};
use scrapegate_server::{Gateway, Routes, ServerOptions, listener};
pub use scrapegate_testkit::http_client::{Client, h2_connection};
pub use scrapegate_testkit::upstream::{BIG_LEN, big_body};
pub use scrapegate_testkit::{Ca, Leaf, TestUpstream, basic, hash, tls_settings, users};

/// A CA and its server certificate for `localhost` / `127.0.0.1`.
pub struct Pki {
    pub ca: Ca,
    pub server: Leaf,
}

pub fn pki() -> Pki {
    let ca = Ca::new("scrapegate test CA");
    let server = ca.server(scrapegate_testkit::pki::KeyAlg::EcdsaP256);
    Pki { ca, server }
}

impl Pki {
    /// Settings serving the server certificate with Go's defaults.
    pub fn settings(&self) -> TlsSettings {
        tls_settings(&self.server)
    }

    /// A client trusting the CA.
    pub fn client(&self, offer_h2: bool) -> Client {
        Client::tls(&self.ca.cert_der, offer_h2)
    }
}

/// The four users of the toolkit's `web_config_users*.good.yml`, with cheap hashes (bob's
/// cost-18 hash is never used; he gets a cheap one too).
pub fn toolkit_users() -> Vec<User> {
    let hashes: Vec<(&str, String)> = [
        ("alice", "alice123"),
        ("bob", "bob123"),
        ("carol", "carol123"),
        ("dave", "dave123"),
    ]
    .into_iter()
    .map(|(name, password)| (name, hash(password)))
    .collect();
    let list: Vec<(&str, &str)> = hashes.iter().map(|(n, h)| (*n, h.as_str())).collect();
    users(&list)
}

/// A validated config with `tls`, HTTP/2 on, and nothing else.
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

/// A response header for a config.
pub fn header(name: &'static str, value: &'static str) -> (http::HeaderName, http::HeaderValue) {
    (
        http::HeaderName::from_static(name),
        http::HeaderValue::from_static(value),
    )
}

/// A gateway serving on 127.0.0.1 with a default upstream.
pub struct TestGateway {
    pub gateway: Gateway,
    pub addr: SocketAddr,
}

pub async fn upstream() -> TestUpstream {
    TestUpstream::start().await
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
    gateway.serve_proxy(listener);
    TestGateway { gateway, addr }
}
