//! The swappable acceptor: one `ArcSwap<TlsState>` loaded once per connection, and the
//! handshake with its deadline, run in the caller's per-connection task.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::UnixTime;
use rustls::{HandshakeKind, ServerConnection};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::client_auth;
use crate::error::TlsError;
use crate::plan::TlsPlan;
use crate::resumption::Resumption;
use crate::sans::{self, ClientIdentity};
use crate::sniff::{self, FirstBytes};
use crate::state::TlsState;

/// What rustls may hold of encrypted records waiting for the socket, per connection, once the
/// handshake is done: one full record (16 KiB of plaintext). Its default, 64 KiB, is what
/// every client that stops reading would pin (on top of what the HTTP layer queues);
/// encrypting and sending one record per write costs nothing measurable on large responses.
const SEND_BUFFER_LIMIT: usize = 16 * 1024;

/// What a successful handshake established.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// ALPN selected `h2`.
    pub alpn_h2: bool,
    /// The session was resumed (ticket or session ID).
    pub resumed: bool,
    /// The client certificate's identity, when one was presented (or restored on resumption).
    pub client: Option<ClientIdentity>,
    /// The state generation that handled the handshake.
    pub generation: u64,
    /// Negotiated protocol version.
    pub protocol: Option<rustls::ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
}

/// Why an accepted TCP connection did not become a TLS stream.
#[derive(Debug)]
pub enum AcceptError {
    /// The handshake did not finish before the deadline; the connection was closed.
    Timeout,
    /// Plain HTTP on the TLS port; Go's 400 reply was sent and the connection closed.
    PlainHttp,
    /// rustls failed the handshake (the alert, if any, was sent).
    Handshake(rustls::Error),
    /// Refused by our own policy outside rustls: `"protocol_version"` (min > max),
    /// `"client_san"` or `"certificate_required"` (post-handshake check, e.g. on resumption),
    /// `"certificate_expired"` / `"certificate_revoked"` (a resumed session whose client
    /// certificate is no longer valid, or revoked by a client CRL now in force, in the
    /// verifying modes).
    Refused(&'static str),
    /// Socket error, or the client went away.
    Io(io::Error),
}

impl AcceptError {
    /// A short, stable label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        use rustls::Error as E;
        match self {
            Self::Timeout => "timeout",
            Self::PlainHttp => "plain_http",
            Self::Refused(r) => r,
            Self::Io(_) => "io",
            Self::Handshake(e) => match e {
                E::NoCertificatesPresented => "certificate_required",
                E::InvalidCertificate(c) => match rustls::AlertDescription::from(c.clone()) {
                    rustls::AlertDescription::UnknownCA => "unknown_ca",
                    rustls::AlertDescription::CertificateExpired => "certificate_expired",
                    rustls::AlertDescription::CertificateRevoked => "certificate_revoked",
                    rustls::AlertDescription::UnsupportedCertificate => "unsupported_certificate",
                    rustls::AlertDescription::DecryptError => "bad_signature",
                    _ => "bad_certificate",
                },
                E::PeerIncompatible(p) => match p {
                    rustls::PeerIncompatible::Tls12NotOffered
                    | rustls::PeerIncompatible::Tls12NotOfferedOrEnabled
                    | rustls::PeerIncompatible::SupportedVersionsExtensionRequired => {
                        "protocol_version"
                    }
                    _ => "handshake_failure",
                },
                E::NoApplicationProtocol => "no_application_protocol",
                E::AlertReceived(_) => "alert_received",
                E::InvalidMessage(_) | E::PeerMisbehaved(_) => "protocol_error",
                _ => "handshake_error",
            },
        }
    }
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("TLS handshake timed out"),
            Self::PlainHttp => f.write_str("client sent an HTTP request to an HTTPS server"),
            Self::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Self::Refused(r) => write!(f, "TLS connection refused: {r}"),
            Self::Io(e) => write!(f, "TLS handshake I/O error: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// What a committed swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapReport {
    /// CA, mode or SAN list changed: the ticketer and session cache were replaced, so no
    /// earlier session resumes.
    pub trust_reset: bool,
    /// The generation now serving.
    pub generation: u64,
    /// The served certificate's notAfter, in Unix seconds.
    pub cert_not_after_unix: i64,
}

/// The next TLS state, built beside the one serving ([`TlsAcceptor::prepare`]); nothing
/// changes until [`TlsAcceptor::commit`].
pub struct PreparedTls {
    state: TlsState,
    trust_reset: bool,
}

impl std::fmt::Debug for PreparedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTls")
            .field("generation", &self.state.generation)
            .field("trust_reset", &self.trust_reset)
            .finish()
    }
}

/// The arc-swapped TLS acceptor shared by every listener.
pub struct TlsAcceptor {
    state: ArcSwap<TlsState>,
    http2: bool,
    /// Serialises prepare → commit pairs so generations stay consecutive and resumption
    /// decisions consistent.
    swap_lock: Mutex<()>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("state", &self.state.load())
            .field("http2", &self.http2)
            .finish()
    }
}

/// Whether a swap keeps the resumption state.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumptionChoice {
    /// Keep it unless trust inputs changed (the normal rule).
    Auto,
    /// Keep it even across a trust change (tests of the post-handshake check only).
    #[cfg(test)]
    ForceKeep,
}

impl TlsAcceptor {
    /// Builds the first state from a plan ([`crate::plan`]). Whether ALPN offers `h2` is
    /// fixed here, as in Go.
    pub fn new(plan: &TlsPlan) -> Result<Self, TlsError> {
        let state = TlsState::build(plan, 1, Resumption::new()?)?;
        Ok(Self {
            state: ArcSwap::from_pointee(state),
            http2: plan.http2(),
            swap_lock: Mutex::new(()),
        })
    }

    /// Reload, first half: builds the next state from a plan without touching the one
    /// serving. Keeps the ticketer and session cache when only the certificate/key (or
    /// versions, suites, curves) changed; replaces them when the CA, the mode or the SAN list
    /// changed. The caller serialises prepare → commit (the gateway's reload lock does).
    pub fn prepare(&self, plan: &TlsPlan) -> Result<PreparedTls, TlsError> {
        self.prepare_with(plan, ResumptionChoice::Auto)
    }

    pub(crate) fn prepare_with(
        &self,
        plan: &TlsPlan,
        choice: ResumptionChoice,
    ) -> Result<PreparedTls, TlsError> {
        let current = self.state.load_full();
        let trust_changed = current.trust != plan.trust;
        let trust_reset = trust_changed && choice == ResumptionChoice::Auto;
        let resumption = if trust_reset {
            Resumption::new()?
        } else {
            current.resumption.clone()
        };
        let state = TlsState::build(plan, current.generation + 1, resumption)?;
        Ok(PreparedTls { state, trust_reset })
    }

    /// Reload, second half: puts a prepared state in force for every new handshake.
    pub fn commit(&self, prepared: PreparedTls) -> SwapReport {
        let _guard = self.swap_lock.lock().unwrap_or_else(|p| p.into_inner());
        let report = SwapReport {
            trust_reset: prepared.trust_reset,
            generation: prepared.state.generation,
            cert_not_after_unix: prepared.state.cert_not_after_unix,
        };
        self.state.store(Arc::new(prepared.state));
        report
    }

    /// Plans, prepares and commits `settings` in one step (for callers with nothing else to
    /// swap together). On error nothing changes.
    pub fn swap(&self, settings: &scrapegate_model::TlsSettings) -> Result<SwapReport, TlsError> {
        let plan = crate::plan(settings, self.http2)?;
        Ok(self.commit(self.prepare(&plan)?))
    }

    /// The state new connections use now.
    pub fn current(&self) -> Arc<TlsState> {
        self.state.load_full()
    }

    /// Whether ALPN offers `h2` (fixed at start, as in Go).
    pub fn http2(&self) -> bool {
        self.http2
    }

    /// Handshake with a deadline. Reads the first bytes: plain HTTP (Go's looksLikeHTTP) gets
    /// "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n" and
    /// is closed. A peer that closes before its first bytes can be classified ends the call at
    /// once. Run this in the per-connection task, never in the accept loop. On timeout the
    /// socket is dropped, which closes it.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        handshake_timeout: Duration,
    ) -> Result<(TlsStream<TcpStream>, ConnInfo), AcceptError> {
        let state = self.current();
        tokio::time::timeout(handshake_timeout, handshake(state, tcp))
            .await
            .unwrap_or(Err(AcceptError::Timeout))
    }
}

async fn handshake(
    state: Arc<TlsState>,
    mut tcp: TcpStream,
) -> Result<(TlsStream<TcpStream>, ConnInfo), AcceptError> {
    let (first, prefix) = sniff::classify(&mut tcp).await.map_err(AcceptError::Io)?;
    match first {
        FirstBytes::PlainHttp => {
            sniff::reject_plain_http(tcp)
                .await
                .map_err(AcceptError::Io)?;
            return Err(AcceptError::PlainHttp);
        }
        FirstBytes::Eof => {
            return Err(AcceptError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        FirstBytes::LegacyClientHello => {
            sniff::refuse_version(tcp, prefix.bytes())
                .await
                .map_err(AcceptError::Io)?;
            return Err(AcceptError::Refused("protocol_version"));
        }
        FirstBytes::Other => {}
    }
    if state.policy.refuse_all {
        sniff::refuse_version(tcp, prefix.bytes())
            .await
            .map_err(AcceptError::Io)?;
        return Err(AcceptError::Refused("protocol_version"));
    }
    // The bytes `classify` consumed go to rustls first; the accept future is built (and the
    // closure run) before it is polled.
    let mut replayed = Ok(());
    let mut accept = tokio_rustls::TlsAcceptor::from(state.config.clone())
        .accept_with(tcp, |conn| replayed = sniff::replay(conn, prefix.bytes()));
    if let Err((error, alert)) = replayed {
        if let Some(tcp) = accept.get_mut() {
            let _ = tcp.write_all(&alert).await;
        }
        return Err(AcceptError::Handshake(error));
    }
    let mut stream = accept.await.map_err(classify_io)?;
    stream.get_mut().1.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
    let (_, conn) = stream.get_ref();
    let info = conn_info(&state, conn);
    // Only reachable when a session resumed past a policy it no longer meets; there is no way
    // to send bad_certificate after the handshake, so the connection is just closed.
    post_handshake_policy(&state, info.client.as_ref()).map_err(AcceptError::Refused)?;
    if info.resumed {
        let chain = conn.peer_certificates().unwrap_or_default();
        client_auth::check_resumed_client(&state.policy, chain, UnixTime::now())
            .map_err(AcceptError::Refused)?;
    }
    Ok((stream, info))
}

/// tokio-rustls reports rustls errors as `InvalidData` io errors wrapping a `rustls::Error`.
fn classify_io(e: io::Error) -> AcceptError {
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(tls) = inner.downcast::<rustls::Error>() {
                return AcceptError::Handshake(*tls);
            }
        }
        return AcceptError::Io(io::ErrorKind::InvalidData.into());
    }
    AcceptError::Io(e)
}

/// Re-checks the client policy on the finished connection. Full handshakes already passed the
/// verifier; this catches resumed sessions (spec "deliberately differs" 6), which then also
/// go through [`client_auth::check_resumed_client`] (validity period; revocation later).
/// Works on the identity `conn_info` extracted, so a full handshake parses the leaf once.
fn post_handshake_policy(
    state: &TlsState,
    client: Option<&ClientIdentity>,
) -> Result<(), &'static str> {
    let policy = &state.policy;
    if !policy.mode.requests_cert() {
        return Ok(());
    }
    let mandatory = policy.mode.requires_cert() || policy.allowed_sans.is_some();
    match (client, &policy.allowed_sans) {
        (None, _) if mandatory => Err("certificate_required"),
        (Some(id), Some(allowed)) if !id.sans.iter().any(|san| allowed.contains(san)) => {
            Err("client_san")
        }
        _ => Ok(()),
    }
}

fn conn_info(state: &TlsState, conn: &ServerConnection) -> ConnInfo {
    let client = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|leaf| {
            let (subject, sans) = sans::subject_and_sans(leaf.as_ref()).unwrap_or_default();
            ClientIdentity {
                verified: state.policy.mode.verifies_chain(),
                subject,
                sans,
            }
        });
    ConnInfo {
        alpn_h2: conn.alpn_protocol() == Some(b"h2"),
        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        client,
        generation: state.generation,
        protocol: conn.protocol_version(),
        cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
    }
}

#[cfg(test)]
mod tests {
    //! The post-handshake policy check, exercised by resuming a session across a trust change
    //! while (artificially) keeping the old ticketer, which the public `swap` never does.

    use std::sync::Arc;

    use scrapegate_model::ClientAuth;
    use scrapegate_testkit::pki::{Ca, Eku, KeyAlg, dns};
    use scrapegate_testkit::tls_client::{ClientOpts, client_config};
    use scrapegate_testkit::{EchoServer, tls_settings};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn connect(addr: std::net::SocketAddr, cfg: Arc<rustls::ClientConfig>) -> bool {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let Ok(mut tls) = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
        else {
            return false;
        };
        let mut buf = [0u8; 1];
        // Reading drives ticket processing; the server closes or echoes one byte.
        tls.write_all(b"x").await.is_ok() && matches!(tls.read(&mut buf).await, Ok(1))
    }

    #[tokio::test]
    async fn resumed_session_is_rechecked_after_handshake() {
        let ca = Ca::new("Root");
        let mut settings = tls_settings(&ca.server(KeyAlg::EcdsaP256));
        settings.client_cas = Some(vec![ca.cert_der.clone()]);
        settings.client_auth = ClientAuth::RequireAndVerifyClientCert;
        settings.client_allowed_sans = Some(vec!["alpha".into()]);
        let acceptor = TlsAcceptor::new(&crate::plan(&settings, false).unwrap()).unwrap();
        let acceptor = Arc::new(acceptor);
        let acc = acceptor.clone();
        let mut server = EchoServer::start(move |tcp| {
            let acc = acc.clone();
            async move {
                acc.accept(tcp, Duration::from_secs(10))
                    .await
                    .map(|(tls, info)| (tls, info.resumed))
                    .map_err(|e| e.reason())
            }
        })
        .await;

        let opts = ClientOpts {
            tls13_only: true,
            cert: Some(ca.client("alpha", vec![dns("alpha")], vec![Eku::ClientAuth])),
            ..Default::default()
        };
        let client = client_config(&ca.cert_der, &opts);
        assert!(connect(server.addr, client.clone()).await);
        assert_eq!(server.outcome().await, Ok(false));

        let mut changed = settings.clone();
        changed.client_allowed_sans = Some(vec!["beta".into()]);
        let prepared = acceptor
            .prepare_with(
                &crate::plan(&changed, false).unwrap(),
                ResumptionChoice::ForceKeep,
            )
            .unwrap();
        let report = acceptor.commit(prepared);
        assert!(!report.trust_reset);
        // The ticket still decrypts, rustls resumes without calling the verifier, and the
        // post-handshake check closes the connection.
        assert!(!connect(server.addr, client).await);
        assert_eq!(server.outcome().await, Err("client_san"));
    }

    #[tokio::test]
    async fn rustls_holds_at_most_one_record_for_a_client_that_does_not_read() {
        let ca = Ca::new("Root");
        let settings = tls_settings(&ca.server(KeyAlg::EcdsaP256));
        let acceptor = TlsAcceptor::new(&crate::plan(&settings, false).unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let cfg = client_config(&ca.cert_der, &ClientOpts::default());
            // Connected, then never reads: the stream is kept until the test ends.
            tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .unwrap()
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut tls, _) = acceptor.accept(tcp, Duration::from_secs(10)).await.unwrap();
        let _client = client.await.unwrap();
        // Straight into rustls, with nothing written to the socket: what it takes is what it
        // would hold for a client that stopped reading.
        let taken = io::Write::write(&mut tls.get_mut().1.writer(), &[7u8; 256 * 1024]).unwrap();
        assert!(
            taken > 0 && taken <= SEND_BUFFER_LIMIT,
            "rustls took {taken} bytes"
        );
    }
}
