//! The front end: listeners, connections, TLS handshakes, HTTP/1 and HTTP/2, timers, parking
//! of idle connections and graceful drain. It hands each request to the app of its listener
//! and knows nothing of what the app does.

mod access_log;
pub(crate) mod clock;
mod coalesce;
pub(crate) mod conn;
pub mod listener;
pub(crate) mod request;
pub(crate) mod streams;
pub(crate) mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::options::ServerOptions;
use crate::telemetry::Metrics;
use conn::ConnTracker;
use tls::TlsFront;

/// Shared by every listener and connection task.
pub(crate) struct Front {
    pub(crate) opts: ServerOptions,
    /// `None`: plain HTTP (no TLS in web.yml).
    pub(crate) tls: Option<TlsFront>,
    /// HTTP/2 as decided at start-up (TLS on and `http2: true`); a reload cannot change it.
    pub(crate) http2: bool,
    pub(crate) conns: ConnTracker,
    pub(crate) h1: hyper::server::conn::http1::Builder,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Readiness,
}

impl Front {
    /// True once shutdown has begun.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.readiness.shutdown.subscribe()
    }
}

/// Whether the gateway serves: set once the first listener serves, cleared by draining. All
/// the health app may see of the gateway.
#[derive(Clone, Debug)]
pub(crate) struct Readiness {
    serving: Arc<AtomicBool>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            serving: Arc::new(AtomicBool::new(false)),
            shutdown: Arc::new(shutdown),
        }
    }

    /// Ready: serving, and not draining.
    pub(crate) fn is_ready(&self) -> bool {
        self.serving.load(Ordering::Relaxed) && !*self.shutdown.borrow()
    }

    pub(crate) fn set_serving(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    /// Starts draining: listeners stop accepting, connections finish and close.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}
