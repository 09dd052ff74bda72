//! Upstream URLs (`--upstream`, `--route PREFIX=URL`, `routes[].upstream` in scrapegate.yml):
//! parsed and checked here, once, whichever way they are given; and how a route reaches its
//! upstream beyond the URL ([`UpstreamTransport`]: TLS settings, a unix socket).

use std::path::PathBuf;

use http::HeaderValue;
use http::uri::{Authority, Scheme};
use rustls_pki_types::CertificateDer;

use crate::tls::{ServerCertificate, TlsVersion};

/// An upstream parsed from `http[s]://host:port[/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and port.
    pub authority: Authority,
    /// The URL's path when it has one (even `/`), which then replaces the matched prefix.
    pub base_path: Option<String>,
    /// The `Host` header requests to this upstream carry: host, and port unless it is 80.
    /// Built once here so no request formats it.
    pub host_header: HeaderValue,
}

impl UpstreamUrl {
    /// Parses `http[s]://host:port[/path]`; the error says what is wrong with `url`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid upstream URL {url:?}: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("upstream URL {url:?} has no scheme"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!(
                "upstream URL {url:?}: the scheme must be http:// or https://"
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("upstream URL {url:?} has no host"))?;
        if authority.host().is_empty() {
            return Err(format!("upstream URL {url:?} has no host"));
        }
        if authority.as_str().contains('@') {
            return Err(format!(
                "upstream URL {url:?} must not hold user information (user@)"
            ));
        }
        // `http::Uri` keeps a port beyond 65535 in the text but not as a number, so the Host
        // header would silently lose it.
        let port = authority
            .as_str()
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.contains(']'));
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(format!("upstream URL {url:?} has an invalid port"));
        }
        if uri.query().is_some() {
            return Err(format!("upstream URL {url:?} must not have a query"));
        }
        if url.contains('#') {
            return Err(format!("upstream URL {url:?} must not have a fragment"));
        }
        // `http::Uri` reports "/" for "http://h" as well; look at the text to tell them apart.
        let after_scheme = &url[url.find("://").map_or(0, |i| i + 3)..];
        let base_path = after_scheme.find('/').map(|i| after_scheme[i..].to_owned());
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_owned(),
        };
        let host_header = HeaderValue::try_from(host)
            .map_err(|e| format!("upstream URL {url:?}: invalid host: {e}"))?;
        Ok(Self {
            scheme,
            authority,
            base_path,
            host_header,
        })
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The host without brackets (`::1` for `[::1]`), as TLS names it.
    pub fn host(&self) -> &str {
        let host = self.authority.host();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }
}

/// How a route reaches its upstream beyond the URL: TLS for `https://` upstreams, a unix
/// socket instead of the URL's host and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTransport {
    /// `Some` exactly when the upstream is `https://` (the defaults when `upstream_tls` is
    /// absent: the system roots and the URL's host as the name).
    pub tls: Option<UpstreamTls>,
    /// Absolute path of a unix socket to connect to instead of the URL's host and port.
    pub unix_socket: Option<PathBuf>,
}

impl UpstreamTransport {
    /// The transport an upstream URL implies by itself: TLS with the defaults for
    /// `https://`, plain TCP otherwise (the flags' routes).
    pub fn of_url(url: &UpstreamUrl) -> Self {
        Self {
            tls: url.is_https().then(UpstreamTls::default),
            unix_socket: None,
        }
    }

    /// True for plain TCP (the shared client serves it).
    pub fn is_plain_tcp(&self) -> bool {
        self.tls.is_none() && self.unix_socket.is_none()
    }
}

/// A route's `upstream_tls` (keys as in Prometheus's `tls_config`), with its files read.
#[derive(Clone, Default)]
pub struct UpstreamTls {
    /// The CA certificates that sign the upstream's certificate; `None`: the system roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// Client certificate and key for mTLS to the upstream (checked to belong together).
    pub client_cert: Option<ServerCertificate>,
    /// SHA-256 of the key file, so that two loads of the same files compare equal (the parsed
    /// key cannot be compared) and a rotated key is seen as a change.
    pub client_key_digest: [u8; 32],
    /// The name sent as SNI and verified; `None`: the URL's host.
    pub server_name: Option<String>,
    /// Skip verifying the upstream's certificate (warned about at every load).
    pub insecure_skip_verify: bool,
    /// Lowest TLS version offered (`Default`: TLS 1.2).
    pub min_version: TlsVersion,
    /// The files read (CA, certificate, key), for the watcher and messages.
    pub files: Vec<PathBuf>,
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        let chain = |t: &Self| t.client_cert.as_ref().map(|c| c.chain().to_vec());
        self.ca == other.ca
            && chain(self) == chain(other)
            && self.client_key_digest == other.client_key_digest
            && self.server_name == other.server_name
            && self.insecure_skip_verify == other.insecure_skip_verify
            && self.min_version == other.min_version
            && self.files == other.files
    }
}

impl Eq for UpstreamTls {}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the key nor its digest reaches a log.
        f.debug_struct("UpstreamTls")
            .field("ca", &self.ca.as_ref().map(Vec::len))
            .field("client_cert", &self.client_cert.is_some())
            .field("server_name", &self.server_name)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("min_version", &self.min_version)
            .field("files", &self.files)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamUrl;

    #[test]
    fn upstream_rules() {
        let ok = UpstreamUrl::parse("http://127.0.0.1:9100/").unwrap();
        assert_eq!(ok.base_path.as_deref(), Some("/"));
        assert_eq!(ok.host_header, "127.0.0.1:9100");
        assert_eq!(UpstreamUrl::parse("http://h").unwrap().base_path, None);
        assert_eq!(
            UpstreamUrl::parse("http://h:80/x").unwrap().host_header,
            "h"
        );
        assert!(UpstreamUrl::parse("http://[::1]:9100/metrics").is_ok());
        let tls = UpstreamUrl::parse("https://[::1]:443/").unwrap();
        assert!(tls.is_https());
        assert_eq!(tls.host_header, "[::1]");
        assert_eq!(tls.host(), "::1");
        for bad in [
            "http://h:99999/",
            "http://u@h/",
            "http://h/p#f",
            "h:9100",
            "ftp://h/",
            "http://h/?q=1",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
