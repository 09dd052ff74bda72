//! Issue 14: client certificates revoked by `tls.client_crl_files`. A revoked client is refused
//! at the handshake and another admitted; after a reload whose list also revokes a second
//! client, that client's new handshakes **and** its saved sessions (TLS 1.2 session ID, TLS 1.2
//! ticket, TLS 1.3 ticket) are refused, while a client the list does not name resumes as
//! before. Both verifying modes, real rustls clients.

mod common;

use std::sync::Arc;

use common::with;
use scrapegate_model::{ClientAuth, TlsSettings};
use scrapegate_testkit::pki::{Ca, KeyAlg, Leaf, dns};
use scrapegate_testkit::resume::{ResumeKind, client_resumed};
use scrapegate_testkit::tls_client::{ClientOpts, client_config, connect, echo, round_trip};
use scrapegate_testkit::{EchoServer, client_crl, tls_settings};
use scrapegate_tls::ConnInfo;

struct Pki {
    server_ca: Ca,
    client_ca: Ca,
    server: Leaf,
    first: Leaf,
    second: Leaf,
    kept: Leaf,
}

fn pki() -> Pki {
    let server_ca = Ca::new("Server Root");
    let client_ca = Ca::new("Client Root");
    let server = server_ca.server(KeyAlg::EcdsaP256);
    let client = |cn: &str| client_ca.client(cn, vec![dns(&format!("{cn}.example"))], vec![]);
    Pki {
        first: client("first"),
        second: client("second"),
        kept: client("kept"),
        server,
        server_ca,
        client_ca,
    }
}

fn settings(p: &Pki, mode: ClientAuth, revoked: &[&Leaf]) -> TlsSettings {
    let mut s = tls_settings(&p.server);
    s.client_auth = mode;
    s.client_cas = Some(vec![p.client_ca.cert_der.clone()]);
    s.client_crls = vec![client_crl(
        p.client_ca.crl_der(revoked, false),
        "scrapers.crl.pem",
    )];
    s
}

fn with_cert(p: &Pki, leaf: &Leaf) -> Arc<rustls::ClientConfig> {
    let opts = ClientOpts {
        cert: Some(leaf.clone()),
        ..Default::default()
    };
    client_config(&p.server_ca.cert_der, &opts)
}

/// A full handshake and an echo: `Ok` when the server admitted the client, else the server's
/// refusal reason.
async fn full_handshake(
    server: &mut EchoServer<ConnInfo>,
    client: Arc<rustls::ClientConfig>,
) -> Result<(), &'static str> {
    let echoed = match round_trip(server.addr, client).await {
        Ok(mut stream) => echo(&mut stream, b"hello").await.is_ok(),
        Err(_) => false,
    };
    let outcome = server.outcome().await.map(|_| ());
    assert_eq!(
        outcome.is_ok(),
        echoed,
        "the two ends disagree: {outcome:?}"
    );
    outcome
}

/// Resumes a saved session: `Ok` when the server served it, else its refusal reason. Panics
/// when the client did not resume at all (the case would prove nothing).
async fn resumed(
    server: &mut EchoServer<ConnInfo>,
    client: Arc<rustls::ClientConfig>,
    what: &str,
) -> Result<(), &'static str> {
    let mut stream = connect(server.addr, client)
        .await
        .unwrap_or_else(|e| panic!("{what}: the resumption handshake failed: {e}"));
    assert!(client_resumed(&stream), "{what}: the client did not resume");
    let echoed = echo(&mut stream, b"again").await;
    match server.outcome().await {
        Ok(info) => {
            assert!(info.resumed, "{what}: the server did a full handshake");
            assert!(echoed.is_ok(), "{what}: served, but the echo failed");
            Ok(())
        }
        Err(reason) => {
            assert!(echoed.is_err(), "{what}: refused, but the echo worked");
            Err(reason)
        }
    }
}

#[tokio::test]
async fn revoked_clients_are_refused_at_handshakes_and_resumptions() {
    let p = pki();
    for mode in [
        ClientAuth::RequireAndVerifyClientCert,
        ClientAuth::VerifyClientCertIfGiven,
    ] {
        let (mut server, acceptor) = with(&settings(&p, mode, &[&p.first])).await;
        assert_eq!(
            full_handshake(&mut server, with_cert(&p, &p.first)).await,
            Err("certificate_revoked"),
            "{mode:?}: the revoked client"
        );
        assert_eq!(
            full_handshake(&mut server, with_cert(&p, &p.second)).await,
            Ok(()),
            "{mode:?}: a client the list does not name"
        );

        // Sessions of every kind, saved while `second` is still good.
        let mut sessions = Vec::new();
        for kind in ResumeKind::ALL {
            for leaf in [&p.second, &p.kept] {
                let opts = ClientOpts {
                    cert: Some(leaf.clone()),
                    ..Default::default()
                };
                let client = kind.client(&p.server_ca.cert_der, &opts);
                let first = full_handshake(&mut server, client.clone()).await;
                assert_eq!(first, Ok(()), "{mode:?} {kind:?}: saving the session");
                sessions.push((kind, std::ptr::eq(leaf, &p.second), client));
            }
        }

        // The reloaded list revokes `second` as well.
        let report = acceptor
            .swap(&settings(&p, mode, &[&p.first, &p.second]))
            .expect("the new list applies");
        assert!(
            !report.trust_reset,
            "a new CRL must not drop every session: only the revoked ones"
        );
        for (kind, revoked, client) in sessions {
            let what = format!(
                "{mode:?} {kind:?} {}",
                if revoked { "second" } else { "kept" }
            );
            let want = if revoked {
                Err("certificate_revoked")
            } else {
                Ok(())
            };
            assert_eq!(resumed(&mut server, client, &what).await, want, "{what}");
        }
        assert_eq!(
            full_handshake(&mut server, with_cert(&p, &p.second)).await,
            Err("certificate_revoked"),
            "{mode:?}: a new handshake of the newly revoked client"
        );
        assert_eq!(
            full_handshake(&mut server, with_cert(&p, &p.kept)).await,
            Ok(()),
            "{mode:?}: the client still good"
        );
    }
}
