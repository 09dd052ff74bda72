//! Session resumption state shared across `ServerConfig` rebuilds.
//!
//! Everything that depends on rustls' ticketing API lives here: rustls 0.24 renames it
//! (`TicketProducer`/`TicketRotator`), and this is the one module to touch then.

use std::sync::Arc;

use rustls::server::{
    ProducesTickets, ServerConfig, ServerSessionMemoryCache, StoresServerSessions,
};

use crate::error::TlsError;

/// Stateful TLS 1.2 session-ID cache size (rustls' own default).
const SESSION_CACHE_ENTRIES: usize = 256;

/// A ticketer (TLS 1.3 and 1.2 tickets) plus a session-ID cache.
///
/// Kept across certificate-only rotations so clients keep resuming; replaced when trust
/// inputs change, which makes every earlier ticket and session ID useless.
#[derive(Clone)]
pub(crate) struct Resumption {
    ticketer: Arc<dyn ProducesTickets>,
    cache: Arc<dyn StoresServerSessions>,
}

impl Resumption {
    /// Fresh keys and an empty cache.
    pub(crate) fn new() -> Result<Self, TlsError> {
        Ok(Self {
            ticketer: rustls::crypto::aws_lc_rs::Ticketer::new()?,
            cache: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        })
    }

    /// Points a config at this state.
    pub(crate) fn install(&self, config: &mut ServerConfig) {
        config.ticketer = self.ticketer.clone();
        config.session_storage = self.cache.clone();
    }
}
