//! One immutable TLS state: a rustls `ServerConfig` plus the facts the acceptor and the
//! metrics need. A reload builds a new one and swaps it in.

use std::sync::Arc;

use rustls::server::{ResolvesServerCert, ServerConfig};
use rustls::sign::SingleCertAndKey;
use scrapegate_config::{ClientAuth, TlsSettings};

use crate::client_auth::ClientVerifier;
use crate::error::TlsError;
use crate::material::{self, KeyType};
use crate::negotiation;
use crate::resumption::Resumption;

/// The inputs that decide who may connect. When any of them changes, earlier sessions must
/// not resume (spec "deliberately differs" 6), so the ticketer and cache are replaced.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TrustInputs {
    client_ca_pem: Option<Vec<u8>>,
    mode: ClientAuth,
    allowed_sans: Option<Vec<String>>,
}

impl TrustInputs {
    pub(crate) fn of(s: &TlsSettings) -> Self {
        Self {
            client_ca_pem: s.client_ca_pem.clone(),
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

    /// True when min_version > max_version, so every handshake is refused.
    pub fn refuses_all_handshakes(&self) -> bool {
        self.policy.refuse_all
    }

    /// Builds a state from settings, reusing `resumption` (the caller decides whether to keep it).
    pub(crate) fn build(
        s: &TlsSettings,
        http2: bool,
        generation: u64,
        resumption: Resumption,
        warnings: &mut Vec<String>,
    ) -> Result<Self, TlsError> {
        let base = rustls::crypto::aws_lc_rs::default_provider();
        let material = material::load(&s.cert_chain_pem, &s.key_pem, &base)?;
        let negotiation = negotiation::negotiate(s, material.key_type, warnings)?;
        // `prefer_server_cipher_suites` is accepted and ignored, as in Go ≥ 1.17. No warning:
        // it defaults to true, so a warning would fire for every file that never mentions it.
        let provider = Arc::new(negotiation.provider);
        let verifier = Arc::new(ClientVerifier::new(s, &provider, warnings));
        let resolver: Arc<dyn ResolvesServerCert> =
            Arc::new(SingleCertAndKey::from(material.certified_key));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&negotiation.versions)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver);
        config.alpn_protocols = if http2 {
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
            cert_not_after_unix: material.not_after_unix,
            key_type: material.key_type,
            policy: ConnPolicy {
                mode: s.client_auth,
                allowed_sans: s.client_allowed_sans.as_deref().map(Arc::from),
                refuse_all: negotiation.refuse_all,
            },
            trust: TrustInputs::of(s),
            resumption,
        })
    }
}
