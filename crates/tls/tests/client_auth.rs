//! Client-certificate modes (spec §2.1.1, §5.5), the CA-as-its-own-anchor rule and
//! `client_allowed_sans` (spec §5.6), with real handshakes.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use common::{serve, with};
use rustls::AlertDescription;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use scrapegate_model::{ClientAuth, TlsSettings};
use scrapegate_testkit::pki::{
    Ca, Eku, KeyAlg, Leaf, SanType, dns, self_signed_ca_client, self_signed_ca_client_until,
};
use scrapegate_testkit::tls_client::{ClientOpts, accepted, client_config, refused};
use scrapegate_testkit::tools::s_client;
use scrapegate_testkit::{openssl, tls_settings};
use scrapegate_tls::{TlsAcceptor, plan};

struct Fixture {
    server_ca: Ca,
    server: Leaf,
    client_ca: Ca,
    /// Issued by `client_ca`, SAN DNS:client.test, EKU clientAuth.
    good: Leaf,
    /// Issued by an unrelated CA.
    stranger: Leaf,
}

fn fixture() -> Fixture {
    let server_ca = Ca::new("Server Root");
    let server = server_ca.server(KeyAlg::EcdsaP256);
    let client_ca = Ca::new("Client Root");
    let good = client_ca.client("good", vec![dns("client.test")], vec![Eku::ClientAuth]);
    let stranger =
        Ca::new("Other Root").client("stranger", vec![dns("client.test")], vec![Eku::ClientAuth]);
    Fixture {
        server_ca,
        server,
        client_ca,
        good,
        stranger,
    }
}

impl Fixture {
    fn settings(&self, mode: ClientAuth, with_ca: bool) -> TlsSettings {
        let mut s = tls_settings(&self.server);
        s.client_auth = mode;
        if with_ca {
            s.client_cas = Some(vec![self.client_ca.cert_der.clone()]);
        }
        s
    }

    fn client(&self, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        let opts = ClientOpts {
            cert: cert.cloned(),
            ..Default::default()
        };
        client_config(&self.server_ca.cert_der, &opts)
    }
}

#[tokio::test]
async fn no_client_cert_mode() {
    let f = fixture();
    let mut server = with(&f.settings(ClientAuth::NoClientCert, false)).await.0;
    assert!(accepted(&mut server, f.client(None)).await.client.is_none());
    // Not requested, so the client does not send it.
    assert!(
        accepted(&mut server, f.client(Some(&f.good)))
            .await
            .client
            .is_none()
    );
}

#[tokio::test]
async fn request_client_cert_mode() {
    let f = fixture();
    let mut server = with(&f.settings(ClientAuth::RequestClientCert, false))
        .await
        .0;
    assert!(accepted(&mut server, f.client(None)).await.client.is_none());
    // Not verified: any certificate is taken, and reported as unverified.
    let id = accepted(&mut server, f.client(Some(&f.stranger)))
        .await
        .client
        .unwrap();
    assert!(!id.verified);
    assert!(id.subject.contains("stranger"), "{}", id.subject);
    assert_eq!(id.sans, vec!["client.test".to_string()]);
}

/// Cases 21/22: RequireAnyClientCert with the toolkit-style self-signed certificate.
#[tokio::test]
async fn require_any_client_cert_mode() {
    let f = fixture();
    let mut server = with(&f.settings(ClientAuth::RequireAnyClientCert, false))
        .await
        .0;
    let reason = refused(
        &mut server,
        f.client(None),
        AlertDescription::CertificateRequired,
    )
    .await;
    assert_eq!(reason, "certificate_required");
    let selfsigned = self_signed_ca_client("test", vec![]);
    let id = accepted(&mut server, f.client(Some(&selfsigned)))
        .await
        .client
        .unwrap();
    assert!(!id.verified);
    accepted(&mut server, f.client(Some(&f.stranger))).await;
}

#[tokio::test]
async fn verify_client_cert_if_given_mode() {
    let f = fixture();
    let mut server = with(&f.settings(ClientAuth::VerifyClientCertIfGiven, true))
        .await
        .0;
    assert!(accepted(&mut server, f.client(None)).await.client.is_none());
    let id = accepted(&mut server, f.client(Some(&f.good)))
        .await
        .client
        .unwrap();
    assert!(id.verified);
    let reason = refused(
        &mut server,
        f.client(Some(&f.stranger)),
        AlertDescription::UnknownCA,
    )
    .await;
    assert_eq!(reason, "unknown_ca");
}

#[tokio::test]
async fn require_and_verify_client_cert_mode() {
    let f = fixture();
    let mut server = with(&f.settings(ClientAuth::RequireAndVerifyClientCert, true))
        .await
        .0;
    refused(
        &mut server,
        f.client(None),
        AlertDescription::CertificateRequired,
    )
    .await;
    assert!(
        accepted(&mut server, f.client(Some(&f.good)))
            .await
            .client
            .unwrap()
            .verified
    );
    refused(
        &mut server,
        f.client(Some(&f.stranger)),
        AlertDescription::UnknownCA,
    )
    .await;
    // TLS 1.2 too.
    let opts = ClientOpts {
        cert: Some(f.good.clone()),
        tls12_only: true,
        ..Default::default()
    };
    accepted(&mut server, client_config(&f.server_ca.cert_der, &opts)).await;
}

/// Case 23: a self-signed CA:TRUE client certificate configured as its own CA is accepted.
#[tokio::test]
async fn self_signed_ca_client_is_its_own_anchor() {
    let f = fixture();
    let me = self_signed_ca_client("test", vec![]);
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    s.client_cas = Some(vec![me.cert_der.clone()]);
    let mut server = with(&s).await.0;
    let id = accepted(&mut server, f.client(Some(&me)))
        .await
        .client
        .unwrap();
    assert!(id.verified);
    assert!(id.subject.contains("test"));
    // A different self-signed certificate is not.
    let other = self_signed_ca_client("test", vec![]);
    refused(
        &mut server,
        f.client(Some(&other)),
        AlertDescription::UnknownCA,
    )
    .await;
}

/// The exact-match rule still checks the validity period and the EKU.
#[tokio::test]
async fn self_signed_anchor_still_checks_validity_and_eku() {
    let f = fixture();
    let expired = self_signed_ca_client_until("old", vec![], 2021);
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    s.client_cas = Some(vec![expired.cert_der.clone()]);
    let mut server = with(&s).await.0;
    let reason = refused(
        &mut server,
        f.client(Some(&expired)),
        AlertDescription::CertificateExpired,
    )
    .await;
    assert_eq!(reason, "certificate_expired");

    // A CA-issued certificate for servers only (EKU serverAuth) is not a client certificate.
    let server_only = f.client_ca.client("srv", vec![], vec![Eku::ServerAuth]);
    let mut server = with(&f.settings(ClientAuth::RequireAndVerifyClientCert, true))
        .await
        .0;
    let reason = refused(
        &mut server,
        f.client(Some(&server_only)),
        AlertDescription::UnsupportedCertificate,
    )
    .await;
    assert_eq!(reason, "unsupported_certificate");
    // No EKU at all passes, as in Go.
    let no_eku = f.client_ca.client("any", vec![], vec![]);
    accepted(&mut server, f.client(Some(&no_eku))).await;
}

/// Non-verifying modes still check the handshake signature: a certificate without its key fails.
#[tokio::test]
async fn unverified_modes_check_the_handshake_signature() {
    let f = fixture();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let wrong_key = provider
        .key_provider
        .load_private_key(f.stranger.key_der())
        .unwrap();
    let forged = CertifiedKey::new(vec![f.good.cert_der.clone()], wrong_key);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(f.server_ca.cert_der.clone()).unwrap();
    for tls12 in [false, true] {
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12 {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let cfg = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(roots.clone())
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(forged.clone())));
        let mut server = with(&f.settings(ClientAuth::RequireAnyClientCert, false))
            .await
            .0;
        let reason = refused(&mut server, Arc::new(cfg), AlertDescription::DecryptError).await;
        assert_eq!(reason, "bad_signature");
    }
}

/// Cases 24/25: SAN allow-list match and mismatch (bad_certificate).
#[tokio::test]
async fn client_san_match_and_mismatch() {
    let f = fixture();
    let client2 = self_signed_ca_client("test3", vec![dns("test3")]);
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    s.client_cas = Some(vec![client2.cert_der.clone()]);
    s.client_allowed_sans = Some(vec!["one".into(), "test3".into(), "two".into()]);
    let mut server = with(&s).await.0;
    accepted(&mut server, f.client(Some(&client2))).await;

    s.client_allowed_sans = Some(vec!["bad".into()]);
    let mut server = with(&s).await.0;
    let reason = refused(
        &mut server,
        f.client(Some(&client2)),
        AlertDescription::BadCertificate,
    )
    .await;
    assert_eq!(reason, "bad_certificate");
    // Exact and case-sensitive.
    s.client_allowed_sans = Some(vec!["TEST3".into(), "test".into(), "*.test3".into()]);
    let mut server = with(&s).await.0;
    refused(
        &mut server,
        f.client(Some(&client2)),
        AlertDescription::BadCertificate,
    )
    .await;
}

/// Every SAN kind Go compares: DNS, email, IP (Go text form) and URI.
#[tokio::test]
async fn client_san_kinds() {
    let f = fixture();
    let sans = vec![
        dns("dns.test"),
        SanType::Rfc822Name("ops@example.test".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        SanType::URI(
            "spiffe://cluster.local/ns/mon/sa/prometheus"
                .try_into()
                .unwrap(),
        ),
    ];
    let leaf = f.client_ca.client("kinds", sans, vec![Eku::ClientAuth]);
    for allowed in [
        "dns.test",
        "ops@example.test",
        "10.0.0.7",
        "::1",
        "spiffe://cluster.local/ns/mon/sa/prometheus",
    ] {
        let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, true);
        s.client_allowed_sans = Some(vec![allowed.to_string()]);
        let mut server = with(&s).await.0;
        let id = accepted(&mut server, f.client(Some(&leaf)))
            .await
            .client
            .unwrap();
        assert!(id.sans.iter().any(|x| x == allowed), "{:?}", id.sans);
    }
}

/// `client_allowed_sans: []` denies everyone; with NoClientCert the list is never checked.
#[tokio::test]
async fn empty_san_list_and_no_client_cert() {
    let f = fixture();
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, true);
    s.client_allowed_sans = Some(vec![]);
    let mut server = with(&s).await.0;
    refused(
        &mut server,
        f.client(Some(&f.good)),
        AlertDescription::BadCertificate,
    )
    .await;

    let mut s = f.settings(ClientAuth::NoClientCert, false);
    s.client_allowed_sans = Some(vec![]);
    let mut server = with(&s).await.0;
    accepted(&mut server, f.client(None)).await;
}

/// Optional modes plus SANs: a client without a certificate is refused cleanly (Go panics).
#[tokio::test]
async fn optional_modes_with_sans_refuse_certless_clients() {
    let f = fixture();
    for (mode, with_ca) in [
        (ClientAuth::RequestClientCert, false),
        (ClientAuth::VerifyClientCertIfGiven, true),
    ] {
        let mut s = f.settings(mode, with_ca);
        s.client_allowed_sans = Some(vec!["client.test".into()]);
        let mut server = with(&s).await.0;
        let reason = refused(
            &mut server,
            f.client(None),
            AlertDescription::CertificateRequired,
        )
        .await;
        assert_eq!(reason, "certificate_required");
        accepted(&mut server, f.client(Some(&f.good))).await;
    }
}

/// A CA bundle without any certificate builds, and then refuses every client certificate.
#[tokio::test]
async fn empty_ca_pool_refuses_everyone() {
    let f = fixture();
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    // What the config crate keeps of a bundle without any certificate.
    s.client_cas = Some(Vec::new());
    let plan = plan(&s, true).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("no usable certificate")),
        "{:?}",
        plan.warnings
    );
    let acceptor = Arc::new(TlsAcceptor::new(&plan).unwrap());
    let mut server = serve(acceptor, std::time::Duration::from_secs(10)).await;
    refused(
        &mut server,
        f.client(Some(&f.good)),
        AlertDescription::UnknownCA,
    )
    .await;
}

/// No CA configured under a verifying mode: the system roots, which do not know our test CA.
#[tokio::test]
async fn no_ca_uses_system_roots() {
    let f = fixture();
    let s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    let mut server = with(&s).await.0;
    refused(
        &mut server,
        f.client(Some(&f.good)),
        AlertDescription::UnknownCA,
    )
    .await;
    refused(
        &mut server,
        f.client(None),
        AlertDescription::CertificateRequired,
    )
    .await;
}

/// openssl: self-signed CA client as its own anchor succeeds, SAN mismatch gets bad certificate.
#[tokio::test]
async fn openssl_client_certs() {
    let Some(_) = openssl() else { return };
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let client2 = self_signed_ca_client("test3", vec![dns("test3")]);
    let (crt, key) = client2.write(dir.path(), "client2");
    let (crt, key) = (crt.display().to_string(), key.display().to_string());
    let mut s = f.settings(ClientAuth::RequireAndVerifyClientCert, false);
    s.client_cas = Some(vec![client2.cert_der.clone()]);
    s.client_allowed_sans = Some(vec!["test3".into()]);
    let mut server = with(&s).await.0;
    let args = ["-cert", crt.as_str(), "-key", key.as_str()];
    let out = s_client(server.addr, dir.path(), &f.server_ca.cert_pem, &args).await;
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(
        out.contains("Acceptable client certificate CA names"),
        "{out}"
    );
    assert!(server.outcome().await.is_ok());

    s.client_allowed_sans = Some(vec!["bad".into()]);
    let mut server = with(&s).await.0;
    // TLS 1.2 makes the alert arrive during the handshake, where s_client prints it.
    let args = ["-cert", crt.as_str(), "-key", key.as_str(), "-tls1_2"];
    let out = s_client(server.addr, dir.path(), &f.server_ca.cert_pem, &args).await;
    assert!(out.contains("alert bad certificate"), "{out}");
    assert_eq!(server.refused().await, "bad_certificate");
}
