//! Issue 15 item 3: a client certificate that expires after a session was saved must not get
//! back in by resuming it. Real rustls clients save sessions of all three kinds (TLS 1.2
//! session ID, TLS 1.2 ticket, TLS 1.3 ticket) with a certificate valid for three seconds and,
//! as a control, with one valid for an hour; once the short one has expired, every kind is
//! resumed again in both verifying modes.

mod common;

use std::time::{Duration, SystemTime};

use common::with;
use scrapegate_model::ClientAuth;
use scrapegate_testkit::pki::{Ca, KeyAlg};
use scrapegate_testkit::resume::{ResumeKind, client_resumed};
use scrapegate_testkit::short_lived::ShortLivedCa;
use scrapegate_testkit::tls_client::{ClientOpts, connect, echo, round_trip};
use scrapegate_testkit::{DEADLINE, EchoServer, tls_settings};
use scrapegate_tls::ConnInfo;

/// How long the expiring certificate is valid after it is issued: enough for the full
/// handshakes that save the sessions on two slow shared cores, short enough to wait out.
const SHORT: Duration = Duration::from_secs(3);

struct Session {
    mode: ClientAuth,
    kind: ResumeKind,
    expiring: bool,
    client: std::sync::Arc<rustls::ClientConfig>,
}

/// What the second connection of a session did, from both ends.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The client resumed and the echo worked: the server let the session in.
    Served,
    /// The client resumed, then the server closed the connection with this reason.
    Refused(&'static str),
    /// The client did not resume at all (the test would prove nothing).
    NotResumed(String),
}

async fn resume(server: &mut EchoServer<ConnInfo>, s: &Session) -> Verdict {
    let mut stream = match connect(server.addr, s.client.clone()).await {
        Ok(stream) => stream,
        Err(e) => {
            return Verdict::NotResumed(format!(
                "handshake failed ({e}); server: {:?}",
                server.outcome().await
            ));
        }
    };
    if !client_resumed(&stream) {
        return Verdict::NotResumed(format!(
            "full handshake; server: {:?}",
            server.outcome().await
        ));
    }
    let echoed = echo(&mut stream, b"after expiry").await;
    match (server.outcome().await, echoed) {
        (Ok(info), Ok(())) if info.resumed => Verdict::Served,
        (Err(reason), Err(_)) => Verdict::Refused(reason),
        (server_side, client_side) => Verdict::NotResumed(format!(
            "server {server_side:?}, client echo {client_side:?}"
        )),
    }
}

#[tokio::test]
async fn expired_client_certificate_is_refused_on_every_resumption_kind() {
    let server_ca = Ca::new("Server Root");
    let client_ca = ShortLivedCa::new("Client Root");
    let server_leaf = server_ca.server(KeyAlg::EcdsaP256);
    let (expiring, not_after) = client_ca.client_for("alpha", SHORT);
    let (lasting, _) = client_ca.client_for("alpha", Duration::from_secs(3600));

    let mut servers = Vec::new();
    let mut sessions = Vec::new();
    for mode in [
        ClientAuth::VerifyClientCertIfGiven,
        ClientAuth::RequireAndVerifyClientCert,
    ] {
        let mut settings = tls_settings(&server_leaf);
        settings.client_auth = mode;
        settings.client_cas = Some(vec![client_ca.cert_der.clone()]);
        let server = with(&settings).await.0;
        for kind in ResumeKind::ALL {
            for (expiring, leaf) in [(true, &expiring), (false, &lasting)] {
                let opts = ClientOpts {
                    cert: Some(leaf.clone()),
                    ..Default::default()
                };
                sessions.push((
                    servers.len(),
                    Session {
                        mode,
                        kind,
                        expiring,
                        client: kind.client(&server_ca.cert_der, &opts),
                    },
                ));
            }
        }
        servers.push(server);
    }

    // Full handshakes that save the sessions, while every certificate is valid.
    for (i, s) in &sessions {
        let server = &mut servers[*i];
        let first = round_trip(server.addr, s.client.clone()).await;
        assert!(first.is_ok(), "{:?}/{:?}: {first:?}", s.mode, s.kind);
        assert!(!client_resumed(&first.unwrap()));
        let info = server.outcome().await.expect("first handshake accepted");
        assert!(!info.resumed);
    }
    assert!(
        SystemTime::now() < not_after,
        "the sessions were saved too slowly to test anything"
    );

    // Wait out the short certificate: X.509 times have whole seconds and a certificate is
    // valid through its notAfter second, so wait one second more. The wall clock is the thing
    // under test here.
    let wait = (not_after + Duration::from_secs(1))
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(wait < DEADLINE);
    tokio::time::sleep(wait).await;

    let mut outcomes = Vec::new();
    for (i, s) in &sessions {
        let got = resume(&mut servers[*i], s).await;
        eprintln!(
            "{:?} {:?} {}: {got:?}",
            s.mode,
            s.kind,
            if s.expiring { "expired" } else { "valid" }
        );
        outcomes.push((s, got));
    }
    for (s, got) in outcomes {
        let want = if s.expiring {
            Verdict::Refused("certificate_expired")
        } else {
            Verdict::Served
        };
        assert_eq!(
            got,
            want,
            "{:?} {:?} with the {} certificate",
            s.mode,
            s.kind,
            if s.expiring { "expired" } else { "valid" }
        );
    }
}
