//! Errors from building TLS state out of a validated `tls_server_config`.

use std::fmt;

/// Why a `TlsSettings` could not be turned into a usable rustls configuration.
///
/// Messages name the offending setting and never include key material.
#[derive(Debug)]
pub enum TlsError {
    /// The version range leaves nothing rustls can speak.
    Version(String),
    /// The cipher suite list leaves no usable suite for an enabled protocol version.
    CipherSuites(String),
    /// Go's HTTP/2 start-up check (spec §3.1): the list lacks an HTTP/2-required suite.
    Http2Cipher(&'static str),
    /// rustls refused the assembled configuration.
    Rustls(rustls::Error),
    /// A route's upstream TLS cannot be set up (the text names the route).
    Upstream(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(m) | Self::CipherSuites(m) | Self::Upstream(m) => f.write_str(m),
            Self::Http2Cipher(m) => f.write_str(m),
            Self::Rustls(e) => write!(f, "tls: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}
