//! Static checks of certificates against a `tls_server_config`, without a connection, for
//! `scrapegate check scrape-config`: would the gateway accept this client certificate (the
//! same verifier the handshake installs, so the same rules: the five modes, the CA-as-leaf
//! rule, `client_allowed_sans`), and would a client trusting these roots accept the served
//! chain for this name (rustls' `WebPkiServerVerifier`, as a Go client would judge it).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, Error, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use scrapegate_model::TlsSettings;

use crate::client_auth::ClientVerifier;
use crate::sans::{self, ClientIdentity};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Judges the certificate a client would present (`chain`, leaf first; empty when it has
/// none) as the gateway's handshake does under `settings`. `Ok(None)`: no certificate is
/// sent or asked for, and none is needed. `Ok(Some(identity))`: accepted; its SANs count in
/// `allow.client_sans` only when `identity.verified` (the verifying modes), as in the server.
/// The error says why the handshake would fail.
pub fn verify_client_certificate(
    settings: &TlsSettings,
    chain: &[CertificateDer<'_>],
) -> Result<Option<ClientIdentity>, String> {
    let mode = settings.client_auth;
    if !mode.requests_cert() {
        // Not asked for: a client never sends one.
        return Ok(None);
    }
    let Some((leaf, intermediates)) = chain.split_first() else {
        let verifier = ClientVerifier::new(settings, &provider(), &mut Vec::new());
        return if verifier.client_auth_mandatory() {
            Err(format!(
                "the gateway requires a client certificate (client_auth_type: {}{}), but none \
                 is configured",
                go_mode(mode),
                if settings.client_allowed_sans.is_some() && !mode.requires_cert() {
                    ", with client_allowed_sans"
                } else {
                    ""
                }
            ))
        } else {
            Ok(None)
        };
    };
    let (subject, client_sans) = sans::subject_and_sans(leaf.as_ref())
        .ok_or_else(|| "the client certificate does not parse".to_owned())?;
    let verifier = ClientVerifier::new(settings, &provider(), &mut Vec::new());
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map_err(|e| match e {
            Error::InvalidCertificate(CertificateError::NotValidForName) => format!(
                "no SAN of the client certificate ({}) is in client_allowed_sans",
                listed(&client_sans)
            ),
            Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                "the client certificate is not signed by a CA of client_ca_file (unknown \
                 authority)"
                    .to_owned()
            }
            other => format!(
                "the client certificate is refused: {}",
                certificate_error(&other)
            ),
        })?;
    Ok(Some(ClientIdentity {
        verified: mode.verifies_chain(),
        subject,
        sans: client_sans,
    }))
}

/// Verifies the served `chain` (leaf first) against `roots` (the system roots when `None`)
/// for `name` (a DNS name or an IP address), as a client with that CA and server name would;
/// without a name, the chain alone. The error is Go's x509 wording where there is one
/// (`x509: certificate signed by unknown authority`, `x509: certificate is valid for
/// localhost, 127.0.0.1, not example.org`).
pub fn verify_server_certificate(
    chain: &[CertificateDer<'_>],
    roots: Option<&[CertificateDer<'_>]>,
    name: Option<&str>,
) -> Result<(), String> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| "the gateway serves no certificate".to_owned())?;
    let mut store = RootCertStore::empty();
    match roots {
        Some(roots) => {
            let (added, _) = store.add_parsable_certificates(roots.iter().cloned());
            if added == 0 {
                return Err("no CA certificate usable as a trust anchor".into());
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
            if store.is_empty() {
                return Err("no system root certificates found".into());
            }
        }
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider())
        .build()
        .map_err(|e| e.to_string())?;
    // The name is checked after the chain; without a name, a name mismatch is success.
    let checked_name = name.unwrap_or("name-not-checked.invalid");
    let server_name = ServerName::try_from(checked_name.to_owned())
        .map_err(|_| format!("{checked_name:?} is not a valid server name"))?;
    match verifier.verify_server_cert(leaf, intermediates, &server_name, &[], UnixTime::now()) {
        Ok(_) => Ok(()),
        Err(Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => match name {
            None => Ok(()),
            Some(name) => {
                let (_, names) = sans::subject_and_sans(leaf.as_ref()).unwrap_or_default();
                Err(if names.is_empty() {
                    format!(
                        "x509: certificate is not valid for any names, but wanted to match {name}"
                    )
                } else {
                    format!(
                        "x509: certificate is valid for {}, not {name}",
                        names.join(", ")
                    )
                })
            }
        },
        Err(e) => Err(certificate_error(&e)),
    }
}

/// Go's wording for the common failures, rustls' for the rest.
fn certificate_error(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "x509: certificate signed by unknown authority".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "x509: certificate has expired or is not yet valid (expired)".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "x509: certificate has expired or is not yet valid (not yet valid)".into()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "x509: certificate specifies an incompatible key usage".into()
            }
            other => format!("invalid certificate: {other:?}"),
        },
        other => other.to_string(),
    }
}

/// `[a b]`, Go's `%v` of a string slice.
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The web.yml spelling of a client-auth mode.
fn go_mode(mode: scrapegate_model::ClientAuth) -> &'static str {
    use scrapegate_model::ClientAuth::*;
    match mode {
        NoClientCert => "NoClientCert",
        RequestClientCert => "RequestClientCert",
        RequireAnyClientCert => "RequireAnyClientCert",
        VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
        RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
    }
}

#[cfg(test)]
mod tests {
    use scrapegate_model::ClientAuth;
    use scrapegate_testkit::pki::{Ca, Eku, KeyAlg};
    use scrapegate_testkit::{dns, tls_settings};

    use super::*;

    #[test]
    fn served_chain_by_name_and_roots() {
        let ca = Ca::new("ca");
        let other = Ca::new("other");
        let leaf = ca.server(KeyAlg::EcdsaP256);
        let chain = [leaf.cert_der.clone()];
        let roots = [ca.cert_der.clone()];
        assert_eq!(
            verify_server_certificate(&chain, Some(&roots), Some("localhost")),
            Ok(())
        );
        assert_eq!(
            verify_server_certificate(&chain, Some(&roots), Some("127.0.0.1")),
            Ok(())
        );
        assert_eq!(
            verify_server_certificate(&chain, Some(&roots), None),
            Ok(())
        );
        assert_eq!(
            verify_server_certificate(&chain, Some(&roots), Some("example.org")),
            Err("x509: certificate is valid for localhost, 127.0.0.1, not example.org".into())
        );
        assert_eq!(
            verify_server_certificate(
                &chain,
                Some(std::slice::from_ref(&other.cert_der)),
                Some("localhost")
            ),
            Err("x509: certificate signed by unknown authority".into())
        );
    }

    #[test]
    fn client_certificates_follow_the_handshake_rules() {
        let ca = Ca::new("client ca");
        let server = ca.server(KeyAlg::EcdsaP256);
        let mut s = tls_settings(&server);
        s.client_auth = ClientAuth::RequireAndVerifyClientCert;
        s.client_cas = Some(vec![ca.cert_der.clone()]);
        s.client_allowed_sans = Some(vec!["scraper.example".into()]);
        let good = ca.client("p", vec![dns("scraper.example")], vec![Eku::ClientAuth]);
        let bad_san = ca.client("p", vec![dns("other.example")], vec![Eku::ClientAuth]);
        let stranger =
            Ca::new("x").client("p", vec![dns("scraper.example")], vec![Eku::ClientAuth]);

        let id = verify_client_certificate(&s, std::slice::from_ref(&good.cert_der))
            .unwrap()
            .unwrap();
        assert!(id.verified);
        assert_eq!(id.sans, ["scraper.example"]);
        assert_eq!(
            verify_client_certificate(&s, std::slice::from_ref(&bad_san.cert_der)),
            Err(
                "no SAN of the client certificate (other.example) is in client_allowed_sans".into()
            )
        );
        let e =
            verify_client_certificate(&s, std::slice::from_ref(&stranger.cert_der)).unwrap_err();
        assert!(e.contains("unknown authority"), "{e}");
        let e = verify_client_certificate(&s, &[]).unwrap_err();
        assert!(e.contains("RequireAndVerifyClientCert"), "{e}");

        s.client_auth = ClientAuth::VerifyClientCertIfGiven;
        s.client_allowed_sans = None;
        assert_eq!(verify_client_certificate(&s, &[]), Ok(None));
        s.client_auth = ClientAuth::NoClientCert;
        assert_eq!(
            verify_client_certificate(&s, std::slice::from_ref(&bad_san.cert_der)),
            Ok(None)
        );
    }
}
