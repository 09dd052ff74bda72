//! Session resumption from a real rustls client, one kind at a time: a TLS 1.2 session ID
//! (the client offers no ticket, so the server must keep the session in its cache), a TLS 1.2
//! ticket, a TLS 1.3 ticket. Each [`ResumeKind::client`] config has its own session store, so
//! the first connection is a full handshake that saves a session and the next one offers it.

use std::sync::Arc;

use rustls::client::{Resumption, Tls12Resumption};
use rustls::{ClientConfig, HandshakeKind};
use rustls_pki_types::CertificateDer;

use crate::tls_client::{ClientOpts, ClientStream, client_config};

/// How a client resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeKind {
    /// TLS 1.2, session ID only (the client sends no session_ticket extension).
    Tls12SessionId,
    /// TLS 1.2 with a session ticket (RFC 5077).
    Tls12Ticket,
    /// TLS 1.3 with a PSK ticket.
    Tls13Ticket,
}

impl ResumeKind {
    /// Every kind, each once.
    pub const ALL: [ResumeKind; 3] = [Self::Tls12SessionId, Self::Tls12Ticket, Self::Tls13Ticket];

    /// A client config trusting `trust` that offers this protocol version only and resumes
    /// this way; `opts` gives the rest (client certificate, ALPN, ...; its version choice is
    /// overridden). A fresh session store per call.
    pub fn client(self, trust: &CertificateDer<'static>, opts: &ClientOpts) -> Arc<ClientConfig> {
        let opts = ClientOpts {
            tls12_only: self != Self::Tls13Ticket,
            tls13_only: self == Self::Tls13Ticket,
            ..opts.clone()
        };
        let mut cfg = Arc::unwrap_or_clone(client_config(trust, &opts));
        let tls12 = match self {
            Self::Tls12SessionId => Tls12Resumption::SessionIdOnly,
            Self::Tls12Ticket | Self::Tls13Ticket => Tls12Resumption::SessionIdOrTickets,
        };
        cfg.resumption = Resumption::in_memory_sessions(16).tls12_resumption(tls12);
        Arc::new(cfg)
    }
}

/// Whether the client side of `stream` resumed a session.
pub fn client_resumed(stream: &ClientStream) -> bool {
    stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed)
}
