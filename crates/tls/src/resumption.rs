//! Session resumption state shared across `ServerConfig` rebuilds, and its bounds.
//!
//! Everything that depends on rustls' ticketing API lives here: rustls 0.24 renames it
//! (`TicketProducer`/`TicketRotator`), and this is the one module to touch then.
//!
//! Bounds (issue 15 item 3; documented in the crate doc and README's security notes):
//! * every kind of session — TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID — resumes for
//!   at most [`SESSION_LIFETIME`] (2 h) after the full handshake that made it. Each session is
//!   stamped with its creation time (inside the ticket's encrypted, authenticated plaintext,
//!   or beside the cached value) and refused once older;
//! * ticket keys rotate every [`TICKET_KEY_PERIOD`] (1 h) and a key is kept one more period
//!   for decryption only, so under traffic a key is erased within 2 h (rustls rotates lazily,
//!   on the next ticket operation, which is why the stamp is what bounds acceptance);
//! * the TLS 1.2 session-ID cache holds at most [`SESSION_CACHE_ENTRIES`] sessions (the
//!   oldest go first).

use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::GetRandomFailed;
use rustls::pki_types::UnixTime;
use rustls::server::{
    ProducesTickets, ServerConfig, ServerSessionMemoryCache, StoresServerSessions,
};

use crate::error::TlsError;

/// How long after its full handshake a session may be resumed, whatever its kind.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
/// How long one ticket key encrypts new tickets; it then decrypts for one more period.
pub(crate) const TICKET_KEY_PERIOD: Duration = Duration::from_secs(60 * 60);
/// Stateful TLS 1.2 session-ID cache size (rustls' own default). Go's server keeps none.
pub(crate) const SESSION_CACHE_ENTRIES: usize = 256;

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
        let rotator = rustls::TicketRotator::new(secs_u32(TICKET_KEY_PERIOD), ticket_key)?;
        Ok(Self {
            ticketer: Arc::new(Stamped {
                inner: rotator,
                max_age: SESSION_LIFETIME.as_secs(),
            }),
            cache: Arc::new(StampedCache {
                inner: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
                max_age: SESSION_LIFETIME.as_secs(),
            }),
        })
    }

    /// Points a config at this state.
    pub(crate) fn install(&self, config: &mut ServerConfig) {
        config.ticketer = self.ticketer.clone();
        config.session_storage = self.cache.clone();
    }
}

fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// One ticket key for the rotator: a fresh aws-lc-rs RFC 5077 ticketer (AES-256-CBC +
/// HMAC-SHA256, random keys). Its own 6 h rotation never matters, as the outer rotator drops
/// it sooner.
fn ticket_key() -> Result<Box<dyn ProducesTickets>, GetRandomFailed> {
    let key = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|_| GetRandomFailed)?;
    Ok(Box::new(Shared(key)))
}

/// An `Arc`'d ticketer as the `Box` the rotator's generator returns.
#[derive(Debug)]
struct Shared(Arc<dyn ProducesTickets>);

impl ProducesTickets for Shared {
    fn enabled(&self) -> bool {
        self.0.enabled()
    }
    fn lifetime(&self) -> u32 {
        self.0.lifetime()
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.decrypt(cipher)
    }
}

/// Length of the creation-time stamp (Unix seconds, big-endian).
const STAMP_LEN: usize = 8;

fn now_secs() -> u64 {
    UnixTime::now().as_secs()
}

/// `value` prefixed with its creation time.
fn stamp(now: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(STAMP_LEN + value.len());
    out.extend_from_slice(&now.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The value inside `stamped` if it is at most `max_age` seconds old at `now`. A stamp in the
/// future by more than `max_age` (the clock went back) is refused as well.
fn unstamp(now: u64, max_age: u64, mut stamped: Vec<u8>) -> Option<Vec<u8>> {
    let created = u64::from_be_bytes(stamped.get(..STAMP_LEN)?.try_into().ok()?);
    if now.abs_diff(created) > max_age {
        return None;
    }
    stamped.drain(..STAMP_LEN);
    Some(stamped)
}

/// Tickets carrying their creation time inside the encrypted plaintext; refused once older
/// than `max_age`, which is also the lifetime hint sent to clients.
#[derive(Debug)]
struct Stamped<T> {
    inner: T,
    max_age: u64,
}

impl<T: ProducesTickets> ProducesTickets for Stamped<T> {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.max_age).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(&stamp(now_secs(), plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        unstamp(now_secs(), self.max_age, self.inner.decrypt(cipher)?)
    }
}

/// The session-ID cache with each value stamped; an expired entry is dropped when found.
#[derive(Debug)]
struct StampedCache<S> {
    inner: Arc<S>,
    max_age: u64,
}

impl<S: StoresServerSessions> StoresServerSessions for StampedCache<S> {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, stamp(now_secs(), &value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = unstamp(now_secs(), self.max_age, self.inner.get(key)?);
        if value.is_none() {
            self.inner.take(key);
        }
        value
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        unstamp(now_secs(), self.max_age, self.inner.take(key)?)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_bound_the_age() {
        let max = SESSION_LIFETIME.as_secs();
        let sealed = stamp(1_000_000, b"session");
        assert_eq!(
            unstamp(1_000_000 + max, max, sealed.clone()).as_deref(),
            Some(&b"session"[..])
        );
        assert_eq!(unstamp(1_000_000 + max + 1, max, sealed.clone()), None);
        // The clock went back: fine within the lifetime, refused beyond it.
        assert!(unstamp(1_000_000 - 60, max, sealed.clone()).is_some());
        assert_eq!(unstamp(1_000_000 - max - 1, max, sealed), None);
        assert_eq!(unstamp(1_000_000, max, vec![1, 2, 3]), None);
    }

    #[test]
    fn tickets_round_trip_and_expire() {
        let fresh = Resumption::new().unwrap();
        assert_eq!(
            fresh.ticketer.lifetime(),
            secs_u32(SESSION_LIFETIME),
            "clients are told the real lifetime"
        );
        let ticket = fresh.ticketer.encrypt(b"state").unwrap();
        assert_eq!(
            fresh.ticketer.decrypt(&ticket).as_deref(),
            Some(&b"state"[..])
        );

        // A ticket whose stamp is older than the lifetime no longer opens.
        let key = ticket_key().unwrap();
        let old = key
            .encrypt(&stamp(
                now_secs() - SESSION_LIFETIME.as_secs() - 1,
                b"state",
            ))
            .unwrap();
        let stamped = Stamped {
            inner: Shared(Arc::from(key)),
            max_age: SESSION_LIFETIME.as_secs(),
        };
        assert_eq!(stamped.decrypt(&old), None);
    }

    #[test]
    fn cached_sessions_expire_and_are_dropped() {
        let inner = ServerSessionMemoryCache::new(4);
        let cache = StampedCache {
            inner: inner.clone(),
            max_age: 60,
        };
        assert!(cache.put(b"id".to_vec(), b"state".to_vec()));
        assert_eq!(cache.get(b"id").as_deref(), Some(&b"state"[..]));
        inner.put(b"old".to_vec(), stamp(now_secs() - 61, b"state"));
        assert_eq!(cache.get(b"old"), None);
        assert_eq!(inner.get(b"old"), None, "the expired entry is gone");
        assert_eq!(cache.take(b"id").as_deref(), Some(&b"state"[..]));
        assert_eq!(cache.get(b"id"), None);
    }
}
