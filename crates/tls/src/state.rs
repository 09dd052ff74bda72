//! One immutable TLS state: a rustls `ServerConfig` plus the facts the acceptor and the
//! metrics need. A reload builds a new one and swaps it in.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::{ResolvesServerCert, ServerConfig};
use rustls::sign::SingleCertAndKey;
use scrapegate_model::{ClientAuth, KeyType, TlsSettings};

use crate::error::TlsError;
use crate::plan::TlsPlan;
use crate::resumption::Resumption;
use crate::revocation::Revocation;

/// The inputs that decide who may connect. When any of them changes, earlier sessions must
/// not resume (spec "deliberately differs" 6), so the ticketer and cache are replaced.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TrustInputs {
    client_cas: Option<Vec<CertificateDer<'static>>>,
    mode: ClientAuth,
    allowed_sans: Option<Vec<String>>,
}

impl TrustInputs {
    pub(crate) fn of(s: &TlsSettings) -> Self {
        Self {
            client_cas: s.client_cas.clone(),
            mode: s.client_auth,
            allowed_sans: s.client_allowed_sans.clone(),
        }
    }
}

/// Per-connection checks done after the handshake (they also cover resumed sessions).
#[derive(Debug, Clone)]
pub(crate) struct ConnPolicy {
    pub(crate) mode: ClientAuth,
    pub(crate) allowed_sans: Option<Arc<[String]>>,
    /// min_version > max_version: refuse every handshake with protocol_version.
    pub(crate) refuse_all: bool,
    /// The client CRLs in force, for resumed sessions (full handshakes are checked by the
    /// verifier).
    pub(crate) revocation: Arc<Revocation>,
}

/// A complete, immutable TLS configuration generation.
pub struct TlsState {
    /// The rustls configuration every new connection of this generation uses.
    pub config: Arc<ServerConfig>,
    /// 1 for the first state, +1 per successful swap.
    pub generation: u64,
    /// The leaf certificate's notAfter, in Unix seconds.
    pub cert_not_after_unix: i64,
    /// The served key's type.
    pub key_type: KeyType,
    pub(crate) policy: ConnPolicy,
    pub(crate) trust: TrustInputs,
    pub(crate) resumption: Resumption,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("generation", &self.generation)
            .field("cert_not_after_unix", &self.cert_not_after_unix)
            .field("key_type", &self.key_type)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// The client-certificate mode this generation enforces.
    pub fn client_auth(&self) -> ClientAuth {
        self.policy.mode
    }

    /// Each client CRL's file and `nextUpdate` (Unix seconds; `None` when the list has none).
    pub fn crl_next_updates(&self) -> &[(std::path::PathBuf, Option<i64>)] {
        &self.policy.revocation.next_updates
    }

    /// True when min_version > max_version, so every handshake is refused.
    pub fn refuses_all_handshakes(&self) -> bool {
        self.policy.refuse_all
    }

    /// Builds a state from a plan, reusing `resumption` (the caller decides whether to keep
    /// it).
    pub(crate) fn build(
        plan: &TlsPlan,
        generation: u64,
        resumption: Resumption,
    ) -> Result<Self, TlsError> {
        // `prefer_server_cipher_suites` is accepted and ignored, as in Go ≥ 1.17. No warning:
        // it defaults to true, so a warning would fire for every file that never mentions it.
        let resolver: Arc<dyn ResolvesServerCert> = Arc::new(SingleCertAndKey::from(Arc::clone(
            &plan.certificate.certified_key,
        )));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&plan.provider))
            .with_protocol_versions(&plan.versions)?
            .with_client_cert_verifier(plan.verifier.clone())
            .with_cert_resolver(resolver);
        config.alpn_protocols = if plan.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        // Go ignores both the configured order and the client's: it picks by its own fixed
        // preference, which is the order the suites are listed in (spec §5.2).
        config.ignore_client_order = true;
        resumption.install(&mut config);

        Ok(Self {
            config: Arc::new(config),
            generation,
            cert_not_after_unix: plan.certificate.not_after_unix,
            key_type: plan.certificate.key_type,
            policy: plan.policy.clone(),
            trust: plan.trust.clone(),
            resumption,
        })
    }
}
