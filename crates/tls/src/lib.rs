//! scrapegate's TLS layer: turns a validated web.yml `tls_server_config`
//! ([`scrapegate_config::TlsSettings`]) into a rustls server configuration and serves it
//! through an arc-swapped [`TlsAcceptor`].
//!
//! This crate owns:
//! * certificate chain and key loading (PKCS#1, PKCS#8, SEC1; RSA, ECDSA, Ed25519) with a
//!   key/certificate match check;
//! * protocol versions, cipher suites and curves by their Go names, clamped where rustls
//!   cannot follow Go (TLS 1.0/1.1, CBC suites) and P-521 key exchange, which the aws-lc-rs
//!   provider lacks ([`kx_p521`]);
//! * the five Go client-auth modes, the exact-match rule for CA certificates used as client
//!   certificates, and the `client_allowed_sans` allow-list, enforced on every connection
//!   (resumed sessions included);
//! * the acceptor state: a swap keeps the session ticketer and cache across certificate-only
//!   rotations and replaces them when trust inputs change; the handshake runs with a deadline
//!   in the caller's task and answers plain HTTP with Go's 400.
//!
//! It does not parse YAML, read files or open listeners.

mod acceptor;
mod client_auth;
mod error;
pub mod kx_p521;
mod material;
mod negotiation;
mod resumption;
mod sans;
mod sniff;
mod state;

pub use acceptor::{AcceptError, ConnInfo, SwapReport, TlsAcceptor};
pub use error::TlsError;
pub use material::KeyType;
pub use sans::ClientIdentity;
pub use sniff::PLAIN_HTTP_RESPONSE;
pub use state::TlsState;
