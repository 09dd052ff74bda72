//! Client certificate policy: the five Go modes (spec §2.1.1, §5.5) and the SAN allow-list
//! as one rustls `ClientCertVerifier`.
//!
//! * `RequestClientCert` / `RequireAnyClientCert`: the chain is not checked, but the handshake
//!   signature always is (proof that the client holds the key).
//! * Verifying modes: webpki against the configured CA pool, or the system roots when no CA
//!   is configured. A leaf byte-identical to a configured CA certificate is accepted as its own
//!   anchor (Go and OpenSSL do; webpki says `CaUsedAsEndEntity`), after checking its validity
//!   period and clientAuth EKU. An empty pool refuses every certificate.
//! * With `client_allowed_sans` set, a client that sends no certificate is refused cleanly
//!   (Go panics there), and a leaf with no listed SAN gets `bad_certificate`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use scrapegate_model::{ClientAuth, TlsSettings};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::sans::{self, SanRejection};
use crate::state::ConnPolicy;

/// The verifier installed in every `ServerConfig`.
pub(crate) struct ClientVerifier {
    mode: ClientAuth,
    allowed_sans: Option<Arc<[String]>>,
    /// webpki over the pool; `None` when the pool is empty (everything is then refused).
    chain: Option<Arc<dyn ClientCertVerifier>>,
    /// The configured CA certificates, for the exact-match rule.
    anchors: Vec<CertificateDer<'static>>,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("mode", &self.mode)
            .field("allowed_sans", &self.allowed_sans)
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// Builds the verifier; warnings go to `warnings` (empty pool, no system roots).
    pub(crate) fn new(
        s: &TlsSettings,
        provider: &Arc<CryptoProvider>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut roots = RootCertStore::empty();
        let mut anchors = Vec::new();
        let mut hints = Vec::new();
        if let Some(cas) = &s.client_cas {
            // The config crate kept what Go's AppendCertsFromPEM keeps; a certificate webpki
            // cannot use as an anchor is left out here as well.
            for der in cas {
                if roots.add(der.clone()).is_ok() {
                    anchors.push(der.clone());
                }
            }
            hints = roots.subjects();
            if anchors.is_empty() && s.client_auth.verifies_chain() {
                warnings.push(
                    "the client CA bundle holds no usable certificate: every client certificate \
                     will be refused"
                        .into(),
                );
            }
        } else if s.client_auth.verifies_chain() {
            // As Go: no CA configured means the system trust store (no hints sent).
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                warnings.push(
                    "no client CA configured and no system root certificates found: every \
                     client certificate will be refused"
                        .into(),
                );
            }
        }

        let chain = if s.client_auth.verifies_chain() && !roots.is_empty() {
            // Revocation of the leaf only, and only where a configured list covers its
            // issuer: the lists are the operator's deny-lists for client certificates, not a
            // requirement that every CA in the chain publish one. A list past its nextUpdate
            // is still applied (webpki's default; the plan warns about it).
            let crls = s.client_crls.iter().map(|c| c.der.clone());
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .with_crls(crls)
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .build()
                .ok()
        } else {
            None
        };
        Self {
            mode: s.client_auth,
            allowed_sans: s.client_allowed_sans.as_deref().map(Arc::from),
            chain,
            anchors,
            hints,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), Error> {
        if self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return check_anchor_leaf(end_entity, now);
        }
        match &self.chain {
            Some(v) => v
                .verify_client_cert(end_entity, intermediates, now)
                .map(|_| ())
                .map_err(ca_as_leaf_is_unknown_issuer),
            None => Err(CertificateError::UnknownIssuer.into()),
        }
    }
}

/// webpki refuses a CA:TRUE leaf that is not one of our anchors with `CaUsedAsEndEntity`,
/// which rustls turns into certificate_unknown. Go cannot chain such a certificate either and
/// answers unknown_ca, so report it that way.
fn ca_as_leaf_is_unknown_issuer(e: Error) -> Error {
    if let Error::InvalidCertificate(CertificateError::Other(other)) = &e {
        if matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ) {
            return CertificateError::UnknownIssuer.into();
        }
    }
    e
}

/// Checks a client certificate that is itself a configured CA: validity period and EKU.
fn check_anchor_leaf(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|_| CertificateError::BadEncoding)?;
    check_validity(&cert, now)?;
    match cert.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(eku)) if eku.value.client_auth || eku.value.any => Ok(()),
        Ok(Some(_)) => Err(CertificateError::InvalidPurpose.into()),
        Err(_) => Err(CertificateError::BadEncoding.into()),
    }
}

/// The validity period rule webpki applies: valid from notBefore through notAfter, in whole
/// seconds.
fn check_validity(cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), CertificateError> {
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYet);
    }
    if now > validity.not_after.timestamp() {
        return Err(CertificateError::Expired);
    }
    Ok(())
}

/// What a resumed session must still pass. rustls resumes a session without calling the
/// verifier, restoring the client chain (leaf first) it verified at the full handshake; that
/// verdict may be stale by now. In the verifying modes the stored leaf must still be within its
/// validity period at `now`: `certificate_expired` otherwise (the label a full handshake with
/// that certificate gets; also for not-yet-valid, as rustls maps both to that alert).
/// The leaf must also not be revoked by a list of the generation in force
/// (`certificate_revoked`), which may be newer than the session. `client_allowed_sans` and a
/// missing certificate are checked for every connection by the acceptor's post-handshake
/// policy.
pub(crate) fn check_resumed_client(
    policy: &ConnPolicy,
    chain: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), &'static str> {
    if !policy.mode.verifies_chain() {
        return Ok(());
    }
    let Some(leaf) = chain.first() else {
        return Ok(());
    };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|_| "bad_certificate")?;
    check_validity(&cert, now).map_err(|_| "certificate_expired")?;
    if policy.revocation.revokes(&cert) {
        return Err("certificate_revoked");
    }
    Ok(())
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.mode.requests_cert()
    }

    fn client_auth_mandatory(&self) -> bool {
        // The allow-list can only pass with a certificate, so in the optional modes a
        // certificate-less client is refused here (certificate_required) instead of panicking.
        self.mode.requires_cert() || (self.mode.requests_cert() && self.allowed_sans.is_some())
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.mode.verifies_chain() {
            self.verify_chain(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            match sans::check_allowed(end_entity.as_ref(), allowed) {
                Ok(()) => {}
                Err(SanRejection::Unparsable) => return Err(CertificateError::BadEncoding.into()),
                // NotValidForName is the variant rustls turns into a bad_certificate alert.
                Err(SanRejection::NotAllowed) => {
                    return Err(CertificateError::NotValidForName.into());
                }
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scrapegate_testkit::pki::{Ca, Eku, LeafSpec, dns};

    use super::*;

    fn policy(mode: ClientAuth) -> ConnPolicy {
        ConnPolicy {
            mode,
            allowed_sans: None,
            revocation: Arc::default(),
            refuse_all: false,
        }
    }

    fn at(unix: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(unix))
    }

    #[test]
    fn resumed_leaf_must_still_be_valid_in_verifying_modes() {
        // Valid 2020-01-01T00:00:00Z through 2021-01-01T00:00:00Z.
        let spec = LeafSpec::client("a", vec![dns("a")], vec![Eku::ClientAuth])
            .valid((2020, 1, 1), (2021, 1, 1));
        let chain = [Ca::new("Root").issue(&spec).cert_der];
        let (from, until) = (1_577_836_800, 1_609_459_200);
        for mode in [
            ClientAuth::VerifyClientCertIfGiven,
            ClientAuth::RequireAndVerifyClientCert,
        ] {
            let p = policy(mode);
            assert_eq!(check_resumed_client(&p, &chain, at(from)), Ok(()));
            assert_eq!(check_resumed_client(&p, &chain, at(until)), Ok(()));
            assert_eq!(
                check_resumed_client(&p, &chain, at(until + 1)),
                Err("certificate_expired")
            );
            assert_eq!(
                check_resumed_client(&p, &chain, at(from - 1)),
                Err("certificate_expired")
            );
            assert_eq!(check_resumed_client(&p, &[], at(until + 1)), Ok(()));
            let garbage = [CertificateDer::from(vec![0x30, 0x00])];
            assert_eq!(
                check_resumed_client(&p, &garbage, at(from)),
                Err("bad_certificate")
            );
        }
        // The modes that never verify a chain do not judge its dates either: a full
        // handshake with this certificate succeeds there too.
        for mode in [
            ClientAuth::RequestClientCert,
            ClientAuth::RequireAnyClientCert,
        ] {
            assert_eq!(
                check_resumed_client(&policy(mode), &chain, at(until + 1)),
                Ok(())
            );
        }
    }
}
