//! scrapegate's TLS layer: turns a validated web.yml `tls_server_config`
//! ([`scrapegate_model::TlsSettings`], certificate and key already parsed by the config
//! crate) into a rustls server configuration and serves it through an arc-swapped
//! [`TlsAcceptor`].
//!
//! This crate owns:
//! * the plan ([`plan()`]): every decision about a `tls_server_config` and the warnings it
//!   raises, used alike by `check web-config`, start-up and reload, Go's HTTP/2 cipher rule
//!   included;
//! * protocol versions, cipher suites and curves by their Go names, clamped where rustls
//!   cannot follow Go (TLS 1.0/1.1, CBC suites) and P-521 key exchange, which the aws-lc-rs
//!   provider lacks ([`kx_p521`]);
//! * the five Go client-auth modes, the exact-match rule for CA certificates used as client
//!   certificates, and the `client_allowed_sans` allow-list, enforced on every connection
//!   (resumed sessions included);
//! * the acceptor state, replaced in two steps (prepare beside the serving state, then
//!   commit): the session ticketer and cache survive certificate-only rotations and are
//!   replaced when trust inputs change; the handshake runs with a deadline in the caller's
//!   task and answers plain HTTP with Go's 400;
//! * the first bytes, read (never polled) into a small buffer with awaited reads and then
//!   replayed into rustls: a client that sends part of a prefix and waits costs nothing, one
//!   that hangs up ends the handshake at once;
//! * resumption bounds: every session (TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID)
//!   resumes for at most 2 h after its full handshake (a creation stamp inside the ticket or
//!   beside the cached session), ticket keys rotate every hour and decrypt for one more, and
//!   the session-ID cache holds at most 256 sessions;
//! * the checks a resumed session must pass again, since rustls resumes without calling the
//!   verifier: the `client_allowed_sans` list and, in the verifying modes, the stored client
//!   leaf's validity period (`certificate_expired` otherwise) and the client CRLs of the
//!   generation in force (`certificate_revoked`), in `client_auth::check_resumed_client`;
//! * client certificate revocation by scrapegate.yml's `tls.client_crl_files` (webpki at full
//!   handshakes, the leaf only, a stale list still applied with a warning);
//! * TLS toward upstreams ([`upstream_client_tls`]): a route's `upstream_tls` as a rustls
//!   client configuration.
//!
//! It does not parse YAML or PEM, read files or open listeners; it depends on the model
//! crate, not on the config parser or the watcher.
//!
//! Where the behaviour differs from Go's `crypto/tls` (for the README):
//! * TLS 1.0/1.1 minimums are raised to TLS 1.2 with a warning; a TLS 1.0/1.1 maximum is a load
//!   error. CBC suites are dropped with a warning; a list leaving TLS 1.2 without a usable
//!   suite is a load error. A pre-TLS 1.2 ClientHello still gets protocol_version, as in Go.
//! * Without `curve_preferences` the groups are the provider's defaults (X25519MLKEM768,
//!   X25519, P-256, P-384) plus P-521, which matches Go 1.24+'s default set.
//! * With `client_allowed_sans` in an optional mode, a client without a certificate gets
//!   certificate_required (Go panics and drops the connection).
//! * A CA:TRUE client certificate that is not itself a configured CA is refused (unknown_ca),
//!   even when a configured CA issued it; Go accepts that case.
//! * A missing required certificate under TLS 1.2 gets rustls' certificate_required alert,
//!   where Go sends bad_certificate.
//! * A resumed session whose client certificate has expired since (verifying modes) is closed
//!   after the resumption handshake, without an alert; Go declines to resume and the full
//!   handshake that follows fails with the expired certificate.

mod acceptor;
mod client_auth;
mod error;
pub mod kx_p521;
mod negotiation;
mod plan;
mod resumption;
mod revocation;
mod sans;
mod sniff;
mod state;
mod upstream;
mod verify;

pub use acceptor::{AcceptError, ConnInfo, PreparedTls, SwapReport, TlsAcceptor};
pub use error::TlsError;
pub use plan::{TlsPlan, plan};
pub use sans::ClientIdentity;
pub use scrapegate_model::KeyType;
pub use sniff::PLAIN_HTTP_RESPONSE;
pub use state::TlsState;
pub use upstream::{UpstreamClientTls, upstream_client_tls};
pub use verify::{verify_client_certificate, verify_server_certificate};
