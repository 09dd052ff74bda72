//! Client certificate revocation by the CRLs of scrapegate.yml's `tls.client_crl_files`.
//!
//! Full handshakes are checked by webpki inside the client verifier (`client_auth`), against
//! the lists of the generation that accepts them. rustls resumes a session without calling the
//! verifier, so a certificate revoked after its session was saved would go on resuming; this
//! module keeps the revoked (issuer, serial) pairs of the generation in force, which
//! `client_auth::check_resumed_client` consults on every resumption. A connection that is
//! already open keeps the verdict of its handshake.

use std::collections::HashSet;
use std::path::PathBuf;

use scrapegate_model::ClientCrl;
use scrapegate_model::time::iso_date;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// The revoked certificates of one TLS generation, and the lists' `nextUpdate` for metrics.
#[derive(Debug, Default)]
pub(crate) struct Revocation {
    /// (issuer name as DER, serial number as DER content) of every revoked certificate.
    revoked: HashSet<(Vec<u8>, Vec<u8>)>,
    /// Each list's file and `nextUpdate` (Unix seconds), in configuration order.
    pub(crate) next_updates: Vec<(PathBuf, Option<i64>)>,
}

impl Revocation {
    /// Collects the lists; a list past its `nextUpdate` at `now` (Unix seconds) is still
    /// applied, with a warning (a stale list revokes at least what it did).
    pub(crate) fn of(crls: &[ClientCrl], now: i64, warnings: &mut Vec<String>) -> Self {
        let mut revoked = HashSet::new();
        let mut next_updates = Vec::with_capacity(crls.len());
        for crl in crls {
            next_updates.push((crl.file.clone(), crl.next_update_unix));
            if let Some(next) = crl.next_update_unix.filter(|next| *next < now) {
                warnings.push(format!(
                    "client CRL {}: its nextUpdate ({}) has passed; it is still applied, but \
                     a newer list is due from its CA",
                    crl.file.display(),
                    iso_date(next)
                ));
            }
            // The config crate parsed every list; one that does not parse now revokes nothing
            // here, and webpki refuses its issuer's certificates at full handshakes anyway.
            let Ok((_, list)) = CertificateRevocationList::from_der(crl.der.as_ref()) else {
                continue;
            };
            let issuer = list.issuer().as_raw().to_vec();
            for entry in list.iter_revoked_certificates() {
                revoked.insert((issuer.clone(), entry.raw_serial().to_vec()));
            }
        }
        Self {
            revoked,
            next_updates,
        }
    }

    /// True when a list revokes `cert`.
    pub(crate) fn revokes(&self, cert: &X509Certificate<'_>) -> bool {
        if self.revoked.is_empty() {
            return false;
        }
        let key = (cert.issuer().as_raw().to_vec(), cert.raw_serial().to_vec());
        self.revoked.contains(&key)
    }

    /// True when a list revokes the DER certificate `der` (false when it does not parse).
    #[cfg(test)]
    pub(crate) fn revokes_der(&self, der: &[u8]) -> bool {
        X509Certificate::from_der(der).is_ok_and(|(_, c)| self.revokes(&c))
    }
}

#[cfg(test)]
mod tests {
    use scrapegate_testkit::pki::{Ca, dns};

    use super::*;

    fn crl_of(ca: &Ca, revoked: &[&scrapegate_testkit::pki::Leaf], stale: bool) -> ClientCrl {
        scrapegate_testkit::client_crl(ca.crl_der(revoked, stale), "crl.pem")
    }

    #[test]
    fn revoked_serials_of_the_issuer_only() {
        let ca = Ca::new("client CA");
        let other_ca = Ca::new("other CA");
        let revoked = ca.client("revoked", vec![dns("r.example")], vec![]);
        let kept = ca.client("kept", vec![dns("k.example")], vec![]);
        let elsewhere = other_ca.client("elsewhere", vec![dns("e.example")], vec![]);
        let mut warnings = Vec::new();
        let r = Revocation::of(
            &[crl_of(&ca, &[&revoked], false)],
            1_800_000_000,
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(r.revokes_der(&revoked.cert_der));
        assert!(!r.revokes_der(&kept.cert_der));
        assert!(!r.revokes_der(&elsewhere.cert_der));
    }

    #[test]
    fn a_stale_list_is_applied_and_warned_about() {
        let ca = Ca::new("client CA");
        let revoked = ca.client("revoked", vec![dns("r.example")], vec![]);
        let mut warnings = Vec::new();
        let r = Revocation::of(
            &[crl_of(&ca, &[&revoked], true)],
            1_800_000_000,
            &mut warnings,
        );
        assert!(r.revokes_der(&revoked.cert_der));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("crl.pem: its nextUpdate (2021-01-01) has passed"),
            "{}",
            warnings[0]
        );
        assert_eq!(r.next_updates[0].1, Some(1_609_459_200));
    }
}
