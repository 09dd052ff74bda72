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
//!   [`body_upstream`]: one that reads and records request bodies and streams long answers;
//!   [`gated_upstream`]: one whose answers wait until the test opens a gate (coalescing),
//!   numbered per request, streamed long, or a reset before the head;
//!   [`raw_http`]: HTTP/1.1 written by hand on any stream (malformed framing, stalled uploads);
//! * [`http_client`]: a hyper client over plain TCP or tokio-rustls, HTTP/1.1 or HTTP/2, a
//!   kept-alive HTTP/1.1 connection over any stream, and requests written by hand;
//! * [`tls_client`]: rustls clients with chosen versions, suites, groups, client certificates
//!   and ALPN, and alert assertions; [`echo`]: an echo server behind any handshake;
//! * [`metrics`]: reading samples out of a Prometheus/OpenMetrics exposition;
//! * [`wait`]: deadline-bounded polling; [`net`]: loopback addresses, free ports, connecting
//!   from a chosen 127/8 source;
//! * [`tools`]: external programs (`openssl`, `curl`, ...) that skip loudly when missing;
//! * [`process`]: a program under test (the gateway binary, given by path) as a child killed
//!   on drop, its log lines with deadline-bounded waits, bounded runs, RSS and RLIMIT_NOFILE;
//! * [`site`]: a directory with the test PKI and a TLS web.yml to start a gateway on;
//! * [`files`]: files rewritten as operators and Kubernetes do (rename, in-place with the old
//!   mtime, `..data` swap);
//! * [`cpu`]: CPU time of this process or a child, and the share of a core over a window;
//! * [`short_lived`]: a CA issuing client certificates valid to the second (e.g. for 3 s);
//! * [`resume`]: rustls clients that resume by TLS 1.2 session ID, TLS 1.2 ticket or TLS 1.3
//!   ticket;
//! * [`bearer`]: `Authorization: Bearer` values and the hex SHA-256 scrapegate.yml holds;
//! * [`prometheus`]: a real Prometheus (Debian package) scraping through the gateway, its
//!   targets' health read from its API.

#![warn(missing_docs)]

pub mod bearer;
pub mod body_upstream;
mod certificate;
pub mod cpu;
pub mod credentials;
pub mod echo;
pub mod files;
pub mod fixtures;
pub mod gated_upstream;
mod http1_server;
pub mod http_client;
pub mod metrics;
pub mod net;
pub mod pki;
pub mod process;
pub mod prometheus;
pub mod raw_http;
pub mod resume;
pub mod settings;
pub mod short_lived;
pub mod site;
pub mod tls_client;
pub mod tls_upstream;
pub mod tools;
pub mod upstream;
pub mod wait;

pub use certificate::{client_crl, server_certificate, server_chain};
pub use credentials::{basic, hash, hash_cost, users};
pub use echo::EchoServer;
pub use http_client::Http1;
pub use metrics::metric;
pub use net::{LOCAL, free_addr, ip, tcp_from};
pub use pki::{Ca, Leaf, dns};
pub use process::{Proc, STARTUP, spawn};
pub use settings::tls_settings;
pub use site::TlsSite;
pub use tools::{curl, openssl, tool};
pub use upstream::{Seen, TestUpstream, UpstreamOptions};
pub use wait::{DEADLINE, eventually, wait_until, wait_until_async};
