//! scrapegate-testkit: the helpers every scrapegate test and bench shares, so no test file
//! grows its own copy. Never a dependency of production code, and itself depending only on
//! `scrapegate-model` and external crates, so every crate can dev-depend on it.
//!
//! * [`pki`]: a throwaway CA, server and client certificates (RSA or EC, SANs, EKUs,
//!   validity), self-signed CA-as-client certificates, PEM files in a directory;
//! * [`settings`]: a `TlsSettings` with Go's defaults for a server leaf;
//!   [`server_certificate`] turns DER material into the served certificate the way the
//!   config crate does from files;
//! * [`credentials`]: cheap `$2y$` bcrypt hashes, parsed users, `Authorization: Basic` values;
//! * [`fixtures`]: the web.yml fixture set of spec §7.2 with its expected outcomes;
//! * [`upstream`]: a real hyper exporter stand-in on loopback that records what it saw;
//! * [`http_client`]: a hyper client over plain TCP or tokio-rustls, HTTP/1.1 or HTTP/2;
//! * [`tls_client`]: rustls clients with chosen versions, suites, groups, client certificates
//!   and ALPN, and alert assertions; [`echo`]: an echo server behind any handshake;
//! * [`metrics`]: reading samples out of a Prometheus/OpenMetrics exposition;
//! * [`wait`]: deadline-bounded polling; [`net`]: loopback addresses;
//! * [`tools`]: external programs (`openssl`, `curl`, ...) that skip loudly when missing.

#![warn(missing_docs)]

mod certificate;
pub mod credentials;
pub mod echo;
pub mod fixtures;
pub mod http_client;
pub mod metrics;
pub mod net;
pub mod pki;
pub mod settings;
pub mod tls_client;
pub mod tools;
pub mod upstream;
pub mod wait;

pub use certificate::{server_certificate, server_chain};
pub use credentials::{basic, hash, hash_cost, users};
pub use echo::EchoServer;
pub use metrics::metric;
pub use net::{LOCAL, ip};
pub use pki::{Ca, Leaf, dns};
pub use settings::tls_settings;
pub use tools::{openssl, tool};
pub use upstream::{Seen, TestUpstream, UpstreamOptions};
pub use wait::{DEADLINE, eventually, wait_until, wait_until_async};
