//! Upstream URLs (`--upstream`, `--route PREFIX=URL`, `routes[].upstream` in scrapegate.yml):
//! parsed and checked here, once, whichever way they are given.

use http::HeaderValue;
use http::uri::{Authority, Scheme};

/// An upstream parsed from `http://host:port[/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `http` only: the gateway terminates TLS and speaks plain HTTP to local exporters.
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
    /// Parses `http://host:port[/path]`; the error says what is wrong with `url`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid upstream URL {url:?}: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("upstream URL {url:?} has no scheme"))?;
        if scheme != Scheme::HTTP {
            return Err(format!(
                "upstream URL {url:?}: only http:// upstreams are supported"
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
        let host = match authority.port_u16() {
            Some(port) if port != 80 => format!("{}:{port}", authority.host()),
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
        for bad in [
            "http://h:99999/",
            "http://u@h/",
            "http://h/p#f",
            "h:9100",
            "https://h/",
            "http://h/?q=1",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
