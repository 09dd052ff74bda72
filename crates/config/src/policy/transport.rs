//! A route's transport: `upstream_tls` (only for an `https://` upstream; the CA bundle, the
//! client certificate and key checked with Go's `X509KeyPair` rules, the server name, the
//! minimum version) and `unix_socket` (an absolute path). Files are read relative to
//! scrapegate.yml's directory.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, ServerName};
use scrapegate_model::{TlsVersion, UpstreamTls, UpstreamTransport, UpstreamUrl};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::raw::{RawRoute, RawUpstreamTls};
use super::{At, Problem};
use crate::go::{io, path as gopath, pem};
use crate::keypair;

/// The transport of one route, given its parsed upstream URL.
pub(super) fn validate(
    raw: &RawRoute,
    upstream: &UpstreamUrl,
    dir: &Path,
    at: At<'_>,
) -> Result<UpstreamTransport, Problem> {
    let tls = match (&raw.upstream_tls, upstream.is_https()) {
        (Some(_), false) => {
            return Err(Problem::field(
                at,
                "upstream_tls",
                "is set but the upstream is http://; use an https:// upstream",
            ));
        }
        (Some(tls), true) => Some(upstream_tls(tls, dir, at)?),
        (None, true) => Some(UpstreamTls::default()),
        (None, false) => None,
    };
    if let Some(tls) = &tls
        && tls.server_name.is_none()
        && ServerName::try_from(upstream.host()).is_err()
    {
        return Err(Problem::field(
            at,
            "upstream",
            format_args!(
                "the host {:?} is not a name TLS can verify; set upstream_tls.server_name",
                upstream.host()
            ),
        ));
    }
    let unix_socket = match raw.unix_socket.as_deref() {
        None => None,
        Some(path) if path.starts_with('/') => Some(PathBuf::from(path)),
        Some(path) => {
            return Err(Problem::field(
                at,
                "unix_socket",
                format_args!("{path:?} must be an absolute path"),
            ));
        }
    };
    Ok(UpstreamTransport { tls, unix_socket })
}

/// The files a route's `upstream_tls` names (joined with `dir`), for the watcher.
pub(super) fn files(raw: &RawRoute, dir: &Path) -> Vec<PathBuf> {
    let Some(tls) = &raw.upstream_tls else {
        return Vec::new();
    };
    [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
        .filter(|f| !f.is_empty())
        .map(|f| PathBuf::from(gopath::join_dir(dir, f)))
        .collect()
}

fn upstream_tls(raw: &RawUpstreamTls, dir: &Path, at: At<'_>) -> Result<UpstreamTls, Problem> {
    let field = |name: &str| format!("upstream_tls.{name}");
    let mut files = Vec::new();
    let mut read = |name: &str, file: &str| -> Result<Vec<u8>, Problem> {
        let joined = gopath::join_dir(dir, file);
        files.push(PathBuf::from(&joined));
        io::read_file(&joined).map_err(|e| Problem::field(at, &field(name), e))
    };
    let ca =
        match nonempty(&raw.ca_file) {
            None => None,
            Some(file) => {
                let pem = read("ca_file", file)?;
                Some(certificates(&pem).map_err(|e| {
                    Problem::field(at, &field("ca_file"), format_args!("{file}: {e}"))
                })?)
            }
        };
    let (client_cert, client_key_digest) = match (nonempty(&raw.cert_file), nonempty(&raw.key_file))
    {
        (None, None) => (None, [0; 32]),
        (Some(cert), Some(key)) => {
            let cert_pem = read("cert_file", cert)?;
            let key_pem = read("key_file", key)?;
            let pair = keypair::x509_key_pair(&cert_pem, &key_pem).map_err(|e| {
                Problem::entry(
                    at,
                    format_args!("upstream_tls: cert_file {cert} and key_file {key}: {e}"),
                )
            })?;
            (Some(pair), Sha256::digest(&key_pem).into())
        }
        (Some(_), None) => {
            return Err(Problem::field(
                at,
                &field("key_file"),
                "is missing: cert_file needs its key_file",
            ));
        }
        (None, Some(_)) => {
            return Err(Problem::field(
                at,
                &field("cert_file"),
                "is missing: key_file needs its cert_file",
            ));
        }
    };
    let server_name = match nonempty(&raw.server_name) {
        None => None,
        Some(name) => {
            ServerName::try_from(name).map_err(|_| {
                Problem::field(
                    at,
                    &field("server_name"),
                    format_args!("{name:?} is not a DNS name or IP address"),
                )
            })?;
            Some(name.to_owned())
        }
    };
    let min_version = match raw.min_version.as_deref() {
        None | Some("") => TlsVersion::Default,
        Some("TLS12") => TlsVersion::Tls12,
        Some("TLS13") => TlsVersion::Tls13,
        Some(v @ ("TLS10" | "TLS11")) => {
            return Err(Problem::field(
                at,
                &field("min_version"),
                format_args!("{v} is not offered: upstream TLS speaks TLS 1.2 and 1.3 only"),
            ));
        }
        Some(v) => {
            return Err(Problem::field(
                at,
                &field("min_version"),
                format_args!("unknown TLS version: {v} (one of TLS12, TLS13)"),
            ));
        }
    };
    Ok(UpstreamTls {
        ca,
        client_cert,
        client_key_digest,
        server_name,
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
        min_version,
        files,
    })
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Every `CERTIFICATE` block of a CA bundle; each must parse, and there must be one.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for block in pem::decode_all(pem) {
        if block.kind != "CERTIFICATE" {
            continue;
        }
        if let Err(e) = X509Certificate::from_der(&block.bytes) {
            return Err(format!("a certificate does not parse: {e}"));
        }
        certs.push(CertificateDer::from(block.bytes));
    }
    if certs.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    Ok(certs)
}
