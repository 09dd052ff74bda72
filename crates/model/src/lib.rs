//! scrapegate-model: the typed, validated values every scrapegate crate shares.
//!
//! The config crate is the only place that parses a file; what it produces is defined here
//! and travels typed from then on: TLS settings with the certificate chain and key already
//! parsed ([`tls`]), users with parsed bcrypt hashes ([`bcrypt`], [`web`]), response headers
//! ready to send, the rate limit, and Go durations ([`duration`]) for every flag and file
//! value. This crate does no I/O and knows nothing of YAML, sockets or watching, so the TLS
//! and auth crates can depend on it without pulling either in.

#![warn(missing_docs)]

pub mod bcrypt;
pub mod duration;
pub mod policy;
pub mod time;
pub mod tls;
pub mod upstream;
pub mod web;

pub use bcrypt::{GoBcryptError, GoBcryptHash};
pub use policy::{Allow, BearerToken, Identity, Policy, RouteRule};
pub use tls::{
    CipherSuite, ClientAuth, ClientCrl, Curve, KeyType, ServerCertificate, TlsSettings, TlsVersion,
};
pub use upstream::{UpstreamTls, UpstreamTransport, UpstreamUrl};
pub use web::{ConfigSet, RateLimit, User, ValidatedConfig};
