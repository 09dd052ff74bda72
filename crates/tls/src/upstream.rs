//! TLS toward upstreams: the rustls client configuration of a route's `upstream_tls`, with the
//! provider the front end uses (aws-lc-rs), ALPN offering h2 then HTTP/1.1, the configured CA
//! bundle or the system roots, an optional client certificate, and the name to send and
//! verify. One function builds it for start-up, reload and `check config`, so they agree on
//! the warnings too.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use scrapegate_model::{TlsVersion, UpstreamTls};

use crate::error::TlsError;

/// A route's client TLS: the configuration and the name every connection sends and verifies.
#[derive(Debug, Clone)]
pub struct UpstreamClientTls {
    /// The rustls client configuration (its session cache lets reconnections resume).
    pub config: Arc<ClientConfig>,
    /// SNI and the name the upstream's certificate must carry.
    pub server_name: ServerName<'static>,
}

/// Builds the client TLS of an upstream whose URL host is `url_host`. Warnings (verification
/// switched off, no system roots) go to `warnings`, each starting with `route`.
pub fn upstream_client_tls(
    tls: &UpstreamTls,
    url_host: &str,
    route: &str,
    warnings: &mut Vec<String>,
) -> Result<UpstreamClientTls, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let name = tls.server_name.as_deref().unwrap_or(url_host);
    let server_name = ServerName::try_from(name.to_owned()).map_err(|_| {
        TlsError::Upstream(format!(
            "route {route}: upstream TLS name {name:?} is not a DNS name or IP address \
             (set upstream_tls.server_name)"
        ))
    })?;
    let versions: &[&'static SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        warnings.push(format!(
            "route {route}: upstream_tls.insecure_skip_verify is true: the upstream's \
             certificate is not verified, so anyone on the path can pose as it"
        ));
        Arc::new(Unverified(provider.signature_verification_algorithms))
    } else {
        let roots = roots(tls.ca.as_deref(), route, warnings);
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsError::Upstream(format!("route {route}: upstream TLS: {e}")))?
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &tls.client_cert {
        Some(cert) => builder.with_client_cert_resolver(Arc::new(ClientCertificate(Arc::clone(
            &cert.certified_key,
        )))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(UpstreamClientTls {
        config: Arc::new(config),
        server_name,
    })
}

/// The configured CA bundle, or the system roots.
fn roots(
    ca: Option<&[CertificateDer<'static>]>,
    route: &str,
    warnings: &mut Vec<String>,
) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(certs) => {
            let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
            if added == 0 {
                warnings.push(format!(
                    "route {route}: upstream_tls.ca_file holds no certificate usable as a \
                     trust anchor: every upstream handshake will fail"
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                warnings.push(format!(
                    "route {route}: no upstream_tls.ca_file and no system root certificates \
                     found: every upstream handshake will fail"
                ));
            }
        }
    }
    roots
}

/// The route's one client certificate, offered whenever the upstream asks.
#[derive(Debug)]
struct ClientCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signature is still
/// checked (the peer holds the key of the certificate it sent), as Go does.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
