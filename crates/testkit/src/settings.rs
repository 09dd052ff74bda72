//! `TlsSettings` as a validated web.yml would hold them, built straight from test material.

use scrapegate_model::{ClientAuth, TlsSettings, TlsVersion};

use crate::pki::Leaf;

/// Settings serving `server` with Go's defaults for everything else: no client certificate,
/// default versions, suites and curves, no SAN list, no file names.
pub fn tls_settings(server: &Leaf) -> TlsSettings {
    TlsSettings {
        certificate: server.server_certificate(),
        client_cas: None,
        client_auth: ClientAuth::NoClientCert,
        client_allowed_sans: None,
        min_version: TlsVersion::Default,
        max_version: TlsVersion::Default,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
        prefer_server_cipher_suites: false,
        cert_file: None,
        key_file: None,
        client_ca_file: None,
        client_crls: Vec::new(),
    }
}
