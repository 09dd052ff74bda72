//! Advice about a valid web.yml beyond promtool's verdict: certificates near expiry, RSA keys,
//! SAN lists that are never checked, empty client CAs, costly bcrypt hashes. None of them
//! changes the verdict. What rustls cannot negotiate (TLS 1.0/1.1, CBC suites, the HTTP/2
//! cipher rule) is the TLS crate's plan, which reports its own warnings; the two lists never
//! overlap.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use scrapegate_model::time::iso_date;
use scrapegate_model::{ClientAuth, TlsSettings, ValidatedConfig};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Certificates expiring within this many days are reported.
const EXPIRY_WARNING_DAYS: i64 = 30;
/// bcrypt costs from this one up are reported.
const HIGH_BCRYPT_COST: u32 = 12;
/// Rough CPU time of one bcrypt check at cost 10 on a current core.
const COST_10_MILLIS: u64 = 50;

/// Warnings about a valid config, as of now.
pub fn warnings(cfg: &ValidatedConfig) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    warnings_at(cfg, now)
}

/// Warnings about a valid config as of `now` (Unix seconds).
pub fn warnings_at(cfg: &ValidatedConfig, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(tls) = &cfg.tls {
        server_certificates(tls, now, &mut out);
        client_policy(tls, now, &mut out);
    } else if !cfg.users.is_empty() {
        out.push(
            "basic_auth_users without TLS: passwords cross the network in clear text".to_owned(),
        );
    }
    users(cfg, &mut out);
    out
}

fn server_certificates(tls: &TlsSettings, now: i64, out: &mut Vec<String>) {
    for (i, der) in tls.certificate.chain().iter().enumerate() {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            continue;
        };
        let what = if i == 0 {
            "server certificate".to_owned()
        } else {
            format!("server chain certificate {}", i + 1)
        };
        expiry(&what, &cert, now, out);
        if i == 0 {
            if let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() {
                out.push(format!(
                    "the server certificate has an RSA-{} key: RSA handshakes cost several times the CPU of ECDSA; prefer an ECDSA P-256 key",
                    rsa.key_size()
                ));
            }
        }
    }
}

fn expiry(what: &str, cert: &X509Certificate<'_>, now: i64, out: &mut Vec<String>) {
    let not_after = cert.validity().not_after.timestamp();
    let subject = cert.subject().to_string();
    if not_after < now {
        out.push(format!(
            "{what} ({subject}) expired on {}",
            iso_date(not_after)
        ));
    } else if not_after - now < EXPIRY_WARNING_DAYS * 86_400 {
        out.push(format!(
            "{what} ({subject}) expires on {}, in {} days",
            iso_date(not_after),
            (not_after - now) / 86_400
        ));
    }
}

fn client_policy(tls: &TlsSettings, now: i64, out: &mut Vec<String>) {
    if tls.client_allowed_sans.is_some() {
        match tls.client_auth {
            ClientAuth::NoClientCert => out.push(
                "client_allowed_sans is set but client_auth_type requests no client certificate: the SANs are never checked"
                    .to_owned(),
            ),
            ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => out.push(
                "client_allowed_sans is checked on a certificate that is not verified in this client_auth_type: anyone can present those SANs; use RequireAndVerifyClientCert"
                    .to_owned(),
            ),
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {}
        }
        if tls.client_allowed_sans.as_deref() == Some(&[]) {
            out.push(
                "client_allowed_sans is an empty list: every client certificate is refused"
                    .to_owned(),
            );
        }
    }
    if let Some(certs) = &tls.client_cas {
        if certs.is_empty() {
            out.push(
                "the client CA holds no certificate: every client certificate will fail verification"
                    .to_owned(),
            );
        }
        for der in certs.iter().map(CertificateDer::as_ref) {
            if let Ok((_, cert)) = X509Certificate::from_der(der) {
                expiry("client CA certificate", &cert, now, out);
            }
        }
    } else if tls.client_auth.verifies_chain() {
        out.push(
            "client certificates are verified against the system trust store (no client_ca_file or client_ca is set)"
                .to_owned(),
        );
    }
}

fn users(cfg: &ValidatedConfig, out: &mut Vec<String>) {
    for user in &cfg.users {
        let hash = &user.hash;
        if hash.cost >= HIGH_BCRYPT_COST {
            let millis = COST_10_MILLIS << (hash.cost - 10).min(20);
            out.push(format!(
                "user {:?}: bcrypt cost {} takes about {} of CPU per uncached check (cost 10: about {COST_10_MILLIS} ms)",
                user.name,
                hash.cost,
                human_millis(millis)
            ));
        }
    }
}

fn human_millis(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}
